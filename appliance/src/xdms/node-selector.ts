/**
 * XCAP node selectors (RFC 4825 §6.3): parsing, and evaluation against a DOM.
 *
 *   node-selector     = element-selector ["/" terminal-selector]
 *   step              = NameorAny ["[" position "]"] ["[" attr-test "]"]
 *   attr-test         = "@" att-name "=" AttValue        ; quoted with " or '
 *   terminal-selector = "@" att-name / "namespace::*" / extension-selector
 *
 * Element names without a prefix are in the application usage's default
 * namespace (§6.3); attribute names without a prefix are in no namespace, as in
 * XML. Prefixes are bound by the query's xmlns() expressions (§6.4, XPointer).
 */

export class SelectorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectorError';
  }
}

export interface QName {
  prefix: string | null;
  local: string;
}

export interface Step {
  /** null local = "*" */
  name: QName | { prefix: null; local: '*' };
  position: number | null;
  attr: { name: QName; value: string } | null;
}

export type Terminal = { kind: 'attribute'; name: QName } | { kind: 'namespace' } | null;

export interface NodeSelector {
  steps: Step[];
  terminal: Terminal;
  /** prefix -> namespace URI from xmlns() */
  bindings: Map<string, string>;
}

// XML 1.0 NCName, simplified to the characters XCAP documents use plus any non-ASCII letter
const NCNAME = /^[A-Za-z_\u00C0-\uFFFF][\w.\-\u00B7\u00C0-\uFFFF]*$/;

function qname(text: string, what: string): QName {
  const colon = text.indexOf(':');
  const prefix = colon >= 0 ? text.slice(0, colon) : null;
  const local = colon >= 0 ? text.slice(colon + 1) : text;
  if ((prefix !== null && !NCNAME.test(prefix)) || !NCNAME.test(local)) throw new SelectorError(`bad ${what} '${text}'`);
  return { prefix, local };
}

/** Splits on "/" outside quotes and brackets (att-values may hold "/"). */
export function splitSteps(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (quote !== null) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === '/' && depth === 0) {
      out.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  if (quote !== null || depth !== 0) throw new SelectorError('unbalanced quotes or brackets');
  out.push(selector.slice(start));
  return out;
}

const STEP = /^([^[\]]+)(?:\[([0-9]+)\])?(?:\[@([^=\]]+)=("[^"]*"|'[^']*')\])?$/;

function parseStep(text: string): Step {
  const m = STEP.exec(text);
  if (m === null) throw new SelectorError(`bad step '${text}'`);
  const name = m[1] === '*' ? { prefix: null, local: '*' as const } : qname(m[1], 'element name');
  const position = m[2] === undefined ? null : Number(m[2]);
  if (position === 0) throw new SelectorError('positions start at 1');
  const attr = m[3] === undefined ? null : { name: qname(m[3], 'attribute name'), value: unescapeAttValue(m[4].slice(1, -1)) };
  return { name, position, attr };
}

/** AttValue may carry the predefined entities and character references (XML 1.0 §2.3). */
function unescapeAttValue(v: string): string {
  return v.replace(/&(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    switch (e) {
      case 'lt':
        return '<';
      case 'gt':
        return '>';
      case 'amp':
        return '&';
      case 'quot':
        return '"';
      case 'apos':
        return "'";
      default:
        return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

/** xmlns(p=uri)xmlns(q=uri) (the XPointer xmlns() scheme) into prefix bindings. */
export function parseXmlnsQuery(query: string): Map<string, string> {
  const bindings = new Map<string, string>();
  if (query === '') return bindings;
  const re = /xmlns\(([^=()\s]+)=([^()]*)\)/y;
  let pos = 0;
  while (pos < query.length) {
    re.lastIndex = pos;
    const m = re.exec(query);
    if (m === null) throw new SelectorError(`bad namespace binding in query at '${query.slice(pos, pos + 20)}'`);
    if (!NCNAME.test(m[1])) throw new SelectorError(`bad prefix '${m[1]}'`);
    bindings.set(m[1], m[2]);
    pos = re.lastIndex;
  }
  return bindings;
}

/** Parses a (percent-decoded) node selector and its query. */
export function parseNodeSelector(selector: string, query = ''): NodeSelector {
  if (selector === '') throw new SelectorError('empty node selector');
  const parts = splitSteps(selector.startsWith('/') ? selector.slice(1) : selector);
  let terminal: Terminal = null;
  const last = parts[parts.length - 1];
  if (parts.length > 1 && last.startsWith('@')) {
    terminal = { kind: 'attribute', name: qname(last.slice(1), 'attribute name') };
    parts.pop();
  } else if (parts.length > 1 && last === 'namespace::*') {
    terminal = { kind: 'namespace' };
    parts.pop();
  }
  const steps = parts.map(parseStep);
  return { steps, terminal, bindings: parseXmlnsQuery(query) };
}

// ---- evaluation (works on any W3C DOM, e.g. @xmldom/xmldom) -----------------------------

export interface DomElement {
  namespaceURI: string | null;
  localName: string | null;
  parentNode: unknown;
  childNodes: ArrayLike<{ nodeType: number }>;
  getAttributeNS(ns: string | null, local: string): string | null;
  hasAttributeNS(ns: string | null, local: string): boolean;
}

export interface Selection {
  /** the one element the element selector names */
  element: DomElement;
  terminal: Terminal;
  /** the namespace URI of a terminal attribute's name (null: none) */
  attributeNamespace: string | null;
}

function resolve(prefix: string | null, sel: NodeSelector, defaultNs: string | null, forAttribute: boolean): string | null {
  if (prefix === null) return forAttribute ? null : defaultNs;
  const ns = sel.bindings.get(prefix);
  if (ns === undefined) throw new SelectorError(`prefix '${prefix}' is not bound by an xmlns() in the query`);
  return ns;
}

function matchesName(el: DomElement, step: Step, sel: NodeSelector, defaultNs: string | null): boolean {
  if (step.name.local === '*') return true;
  return el.localName === step.name.local && (el.namespaceURI ?? null) === resolve(step.name.prefix, sel, defaultNs, false);
}

/**
 * The elements each step selects, XPath-style (a step applies to every element
 * the previous one selected). `[n]` counts among the siblings that match the name.
 */
export function selectElements(root: DomElement, sel: NodeSelector, defaultNs: string | null): DomElement[] {
  let current: DomElement[] = [];
  const [first, ...rest] = sel.steps;
  // the first step names the document element itself
  if (matchesName(root, first, sel, defaultNs) && (first.position === null || first.position === 1)) current = [root];
  current = current.filter((el) => attrMatches(el, first, sel));
  for (const step of rest) {
    const next: DomElement[] = [];
    // one pass over each parent's children, no intermediate arrays: a 200-entry list is walked
    // for every element GET and PUT
    for (const parent of current) {
      const kids = parent.childNodes;
      let n = 0;
      for (let i = 0; i < kids.length; i++) {
        const el = kids[i] as unknown as DomElement & { nodeType: number };
        if (el.nodeType !== 1 || !matchesName(el, step, sel, defaultNs)) continue;
        n++;
        if (step.position !== null && n !== step.position) continue;
        if (attrMatches(el, step, sel)) next.push(el);
        if (step.position !== null) break;
      }
    }
    current = next;
  }
  return current;
}

/** Whether an element passes a step's attribute test (`[@name="value"]`; true without one). */
export function attrMatches(el: DomElement, step: Step, sel: NodeSelector): boolean {
  if (step.attr === null) return true;
  const ns = resolve(step.attr.name.prefix, sel, null, true);
  return el.hasAttributeNS(ns, step.attr.name.local) && el.getAttributeNS(ns, step.attr.name.local) === step.attr.value;
}

/** The single element a selector names, or null when it names none or several (RFC 4825 §6.3: 404). */
export function selectOne(root: DomElement, sel: NodeSelector, defaultNs: string | null): Selection | null {
  const found = selectElements(root, sel, defaultNs);
  if (found.length !== 1) return null;
  const attributeNamespace = sel.terminal?.kind === 'attribute' ? resolve(sel.terminal.name.prefix, sel, null, true) : null;
  return { element: found[0], terminal: sel.terminal, attributeNamespace };
}
