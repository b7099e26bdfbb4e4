import { createHash } from 'node:crypto';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { childElements } from './dom.js';

const XS = 'http://www.w3.org/2001/XMLSchema';

/** The expanded name of an element (namespace null = none). */
export interface ExpandedName {
  ns: string | null;
  local: string;
}

/** How to validate one element alone: against this generated schema, its root renamed. */
export interface SubtreePlan {
  /** the generated schema: the main one of this validation, including the usage's own */
  schema: { fileName: string; contents: string };
  /** the name the element's copy takes (in its own namespace) so that the generated declaration applies */
  rootLocal: string;
}

type XsEl = {
  localName: string | null;
  namespaceURI: string | null;
  childNodes: ArrayLike<{ nodeType: number }>;
  getAttribute(n: string): string | null;
  hasAttribute(n: string): boolean;
  lookupNamespaceURI(prefix: string | null): string | null;
};

interface SchemaDoc {
  file: string;
  tns: string | null;
  /** elementFormDefault="qualified" */
  qualified: boolean;
}

/** A declaration or definition, with the schema document it sits in (its namespace and form defaults). */
interface Found {
  el: XsEl;
  doc: SchemaDoc;
}

/** The components of one usage's schema files, by expanded name. */
interface SchemaSet {
  elements: Map<string, Found>;
  types: Map<string, Found>;
  groups: Map<string, Found>;
}

/** What makes one element's validity depend on the rest of the document: IDs, IDREFs and identity constraints. */
const DOCUMENT_WIDE = /type="[^"]*:?(ID|IDREF|IDREFS)"|<[\w.-]*:?(unique|key|keyref)[\s>]/;
/** The element name the generated schema declares (error messages name it). */
export const SUBTREE_ROOT = 'parley-subtree';
const ROOT = SUBTREE_ROOT;

const serialize = (n: unknown): string => new XMLSerializer().serializeToString(n as never);
const id = (ns: string | null, local: string): string => `${ns ?? ''}|${local}`;
const xs = (el: XsEl): XsEl[] => childElements<XsEl>(el, XS);

/**
 * Finds, from a usage's XSDs, the declared type of the element an element PUT
 * replaced, so that the element can be validated alone (RFC 4825 §8.2.3 asks for
 * the resulting document to be valid; when the new element has the same name as
 * the one it replaces, the parent's content model sees the same sequence of
 * names, and XSD validity is local to each element except for IDs, IDREFs and
 * identity constraints, which rule a usage out here). The element must be
 * declared with a named type (or be a global element); anything else (an
 * anonymous type, a declaration with a fixed or default value, nillable,
 * reached through a wildcard or a substitution) has no plan and the caller
 * validates the whole document.
 *
 * @example
 *   const plan = subtrees.plan(['resource-lists.xsd', 'xml.xsd'], [rl('resource-lists'), rl('list'), rl('entry')]);
 *   // plan.schema declares <parley-subtree> of type entryType and includes resource-lists.xsd
 */
export class SubtreeSchemas {
  private readonly sets = new Map<string, SchemaSet | null>();
  private readonly plans = new Map<string, SubtreePlan | null>();

  constructor(
    /** the text of a schema file, as the validator gets it */
    private readonly read: (file: string) => string,
  ) {}

  /** The plan for the element at `path` (expanded names from the document element down), or null. */
  plan(schemas: readonly string[], path: readonly ExpandedName[]): SubtreePlan | null {
    const key = `${schemas.join(' ')}\u0000${path.map((p) => id(p.ns, p.local)).join('/')}`;
    if (this.plans.has(key)) return this.plans.get(key)!;
    const set = this.setOf(schemas);
    const plan = set === null ? null : planFor(set, path);
    this.plans.set(key, plan);
    return plan;
  }

  private setOf(schemas: readonly string[]): SchemaSet | null {
    const key = schemas.join(' ');
    if (this.sets.has(key)) return this.sets.get(key)!;
    const texts = schemas.map((f) => ({ file: f, text: this.read(f) }));
    // xml.xsd declares xml:id an ID: fragments carrying xml:id are refused a plan instead (planFor's caller)
    const wide = texts.some((t) => t.file !== 'xml.xsd' && DOCUMENT_WIDE.test(t.text));
    const set: SchemaSet | null = wide ? null : { elements: new Map(), types: new Map(), groups: new Map() };
    if (set !== null) {
      for (const { file, text } of texts) {
        const root = new DOMParser().parseFromString(text, 'text/xml').documentElement as unknown as XsEl;
        const doc: SchemaDoc = { file, tns: root.getAttribute('targetNamespace') || null, qualified: root.getAttribute('elementFormDefault') === 'qualified' };
        for (const c of xs(root)) {
          const name = c.getAttribute('name');
          if (name === null) continue;
          const table = c.localName === 'element' ? set.elements : c.localName === 'complexType' ? set.types : c.localName === 'group' ? set.groups : null;
          table?.set(id(doc.tns, name), { el: c, doc });
        }
      }
    }
    this.sets.set(key, set);
    return set;
  }
}

/** Resolves a QName-valued attribute (type, ref, base) with the namespace bindings in scope where it is written. */
function qname(el: XsEl, attr: string): ExpandedName | null {
  const v = el.getAttribute(attr);
  if (!v) return null;
  const i = v.indexOf(':');
  const prefix = i < 0 ? null : v.slice(0, i);
  // @xmldom/xmldom keys the default namespace as '' rather than the DOM's null
  const ns = el.lookupNamespaceURI(prefix) ?? (prefix === null ? el.lookupNamespaceURI('') : null);
  return { ns: ns || null, local: i < 0 ? v : v.slice(i + 1) };
}

function planFor(set: SchemaSet, path: readonly ExpandedName[]): SubtreePlan | null {
  if (path.length < 2) return null;
  let decl = set.elements.get(id(path[0].ns, path[0].local)) ?? null;
  for (let i = 1; decl !== null && i < path.length; i++) {
    const type = complexTypeOf(set, decl);
    decl = type === null ? null : findChild(set, type, path[i]);
  }
  // the copy is renamed within the element's own namespace: an unqualified local element has no plan
  if (decl === null || decl.doc.tns !== path[path.length - 1].ns) return null;
  const el = decl.el;
  if (['fixed', 'default', 'nillable', 'block', 'abstract'].some((a) => el.hasAttribute(a))) return null;
  const type = qname(el, 'type');
  if (type === null || (type.ns !== XS && type.ns !== decl.doc.tns)) return null;
  const tns = decl.doc.tns;
  const contents =
    `<xs:schema xmlns:xs="${XS}"${tns !== null ? ` xmlns:t="${tns}" targetNamespace="${tns}"` : ''} elementFormDefault="qualified">` +
    `<xs:include schemaLocation="${decl.doc.file}"/>` +
    `<xs:element name="${ROOT}" type="${type.ns === XS ? 'xs:' : tns !== null ? 't:' : ''}${type.local}"/>` +
    `</xs:schema>`;
  const fileName = `parley-subtree-${createHash('sha256').update(contents).digest('hex').slice(0, 16)}.xsd`;
  return { schema: { fileName, contents }, rootLocal: ROOT };
}

/** The complex type an element declaration gives its content (following ref), or null (simple, anyType, unknown). */
function complexTypeOf(set: SchemaSet, decl: Found): Found | null {
  const ref = qname(decl.el, 'ref');
  if (ref !== null) {
    const global = set.elements.get(id(ref.ns, ref.local));
    return global ? complexTypeOf(set, global) : null;
  }
  const type = qname(decl.el, 'type');
  if (type !== null) return set.types.get(id(type.ns, type.local)) ?? null;
  const anonymous = xs(decl.el).find((c) => c.localName === 'complexType');
  return anonymous ? { el: anonymous, doc: decl.doc } : null;
}

/** The declaration a complex type's content model gives a child element of that name, searching base types it extends. */
function findChild(set: SchemaSet, type: Found, name: ExpandedName, depth = 0): Found | null {
  if (depth > 32) return null; // a base type chain that loops (an invalid schema): no plan
  for (const c of xs(type.el)) {
    const here: Found = { el: c, doc: type.doc };
    switch (c.localName) {
      case 'sequence':
      case 'choice':
      case 'all': {
        const r = findChild(set, here, name, depth + 1);
        if (r) return r;
        break;
      }
      case 'group': {
        const ref = qname(c, 'ref');
        const group = ref ? set.groups.get(id(ref.ns, ref.local)) : here;
        const r = group ? findChild(set, group, name, depth + 1) : null;
        if (r) return r;
        break;
      }
      case 'complexContent':
        for (const d of xs(c)) {
          if (d.localName === 'extension') {
            const base = qname(d, 'base');
            const baseType = base ? set.types.get(id(base.ns, base.local)) : undefined;
            const r = (baseType ? findChild(set, baseType, name, depth + 1) : null) ?? findChild(set, { el: d, doc: type.doc }, name, depth + 1);
            if (r) return r;
          } else if (d.localName === 'restriction') {
            const r = findChild(set, { el: d, doc: type.doc }, name, depth + 1);
            if (r) return r;
          }
        }
        break;
      case 'element': {
        const ref = qname(c, 'ref');
        if (ref !== null) {
          if (ref.ns === name.ns && ref.local === name.local) {
            const global = set.elements.get(id(ref.ns, ref.local));
            return global ?? null;
          }
          break;
        }
        const form = c.getAttribute('form');
        const ns = (form ? form === 'qualified' : type.doc.qualified) ? type.doc.tns : null;
        if (c.getAttribute('name') === name.local && ns === name.ns) return here;
        break;
      }
      default:
        break;
    }
  }
  return null;
}

const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS = 'http://www.w3.org/2000/xmlns/';

type DomEl = XsEl & {
  nodeName: string;
  parentNode: DomEl | null;
  attributes: ArrayLike<{ name: string; value: string }>;
  hasAttributeNS(ns: string, local: string): boolean;
  getElementsByTagName(name: string): ArrayLike<DomEl>;
  cloneNode(deep: boolean): DomEl;
  setAttributeNS(ns: string, name: string, value: string): void;
};

/**
 * What to validate instead of the whole document after an element PUT replaced
 * `element` (already in the document) by one of the same name: the element's
 * copy, renamed to the plan's root and carrying the namespace declarations in
 * scope where it sits, and the plan's schema. Null when only the whole document
 * will do: no plan for its place, an xsi:type above it (its ancestors' types
 * would not be the declared ones), or an xml:id in it (IDs are unique per document).
 */
export function subtreeInput(subtrees: SubtreeSchemas, schemas: readonly string[], element: unknown): { xml: string; schema: SubtreePlan['schema'] } | null {
  const el = element as DomEl;
  const path: ExpandedName[] = [];
  for (let n: DomEl | null = el; n !== null && n.nodeName !== '#document'; n = n.parentNode) {
    if (n !== el && n.hasAttributeNS(XSI, 'type')) return null;
    path.unshift({ ns: n.namespaceURI ?? null, local: n.localName ?? '' });
  }
  const plan = subtrees.plan(schemas, path);
  if (plan === null) return null;
  const all = [el, ...Array.from(el.getElementsByTagName('*'))];
  if (all.some((e) => e.hasAttributeNS(XML_NS, 'id'))) return null;
  const copy = el.cloneNode(true);
  // the bindings in scope (QName-valued content such as xsi:type="p:t" may use them)
  const seen = new Set<string>();
  for (let n = el.parentNode; n !== null && n.attributes; n = n.parentNode) {
    for (let i = 0; i < n.attributes.length; i++) {
      const a = n.attributes[i];
      if ((a.name === 'xmlns' || a.name.startsWith('xmlns:')) && !seen.has(a.name)) {
        seen.add(a.name);
        if (!copy.hasAttribute(a.name)) copy.setAttributeNS(XMLNS, a.name, a.value);
      }
    }
  }
  const text = serialize(copy);
  const name = el.nodeName;
  const prefix = name.includes(':') ? name.slice(0, name.indexOf(':') + 1) : '';
  const close = `</${name}>`;
  const renamed = `<${prefix}${plan.rootLocal}${text.slice(name.length + 1, text.endsWith(close) ? -close.length : undefined)}${text.endsWith(close) ? `</${prefix}${plan.rootLocal}>` : ''}`;
  return { xml: renamed, schema: plan.schema };
}
