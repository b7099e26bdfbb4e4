import { conflict, escapeAttr } from './xcap-error.js';
import { encodeNodeSelector } from './uri-encoding.js';
import type { XmlDocument } from './xml-intake.js';
import { childElements } from './dom.js';

const RL = 'urn:ietf:params:xml:ns:resource-lists';

type El = {
  namespaceURI: string | null;
  localName: string | null;
  childNodes: ArrayLike<{ nodeType: number }>;
  getAttribute(n: string): string | null;
  hasAttribute(n: string): boolean;
};

/** Which attribute must be unique among the siblings of which element (RFC 4826 §3.4.5). */
const UNIQUE: [element: string, attribute: string][] = [
  ['list', 'name'],
  ['entry', 'uri'],
  ['entry-ref', 'ref'],
  ['external', 'anchor'],
];

/**
 * The semantic constraints XSD cannot express (X1): in a resource-lists document,
 * list names, entry URIs, entry-ref refs and external anchors are unique within
 * their list. A violation is 409 uniqueness-failure naming the field, with an
 * alternative value where one can be proposed (RFC 4825 §11.5.8).
 */
export function checkResourceLists(doc: XmlDocument): void {
  walkLists(doc.documentElement as unknown as El, 'resource-lists');
}

/**
 * The same constraints after an element PUT put `element` under `parent` (inserted or replacing
 * one): uniqueness is among the siblings of one list, so only the parent's children and the lists
 * inside the new element can break it; the rest of the document passed these checks when it was
 * stored. Same verdict and error as the whole walk for a document that satisfied them before.
 */
export function checkResourceListsAround(parent: unknown, element: unknown): void {
  const path = listPath(parent as El);
  if (path === null) return; // not a list the whole walk visits: nothing there is constrained
  const el = element as El;
  checkNewSibling(parent as El, el, path);
  if (el.localName === 'list' && el.namespaceURI === RL) walkLists(el, `${path}/list[@name="${el.getAttribute('name') ?? ''}"]`);
}

/** The walk's path of a list (resource-lists/list[@name=…]/…), or null unless every ancestor up to the root is a list. */
function listPath(el: El & { parentNode?: unknown }): string | null {
  const names: string[] = [];
  let n = el as El & { parentNode: (El & { parentNode: unknown; nodeType: number }) | null };
  while (n.parentNode !== null && n.parentNode.nodeType === 1) {
    if (n.localName !== 'list' || n.namespaceURI !== RL) return null;
    names.unshift(`list[@name="${n.getAttribute('name') ?? ''}"]`);
    n = n.parentNode as typeof n;
  }
  if (n.localName !== 'resource-lists' || n.namespaceURI !== RL) return null;
  return ['resource-lists', ...names].join('/');
}

/**
 * The parent's children were unique before the edit, so only the new element's own value can
 * repeat one: compared with the siblings of its name, not every pair of children.
 */
function checkNewSibling(parent: El, el: El, path: string): void {
  if (el.namespaceURI !== RL) return;
  const rule = UNIQUE.find(([element]) => element === el.localName);
  if (rule === undefined || !el.hasAttribute(rule[1])) return;
  const [element, attribute] = rule;
  const v = el.getAttribute(attribute)!;
  const children = childElements<El>(parent, RL, element);
  if (!children.some((c) => c !== el && c.getAttribute(attribute) === v)) return;
  const all = new Set(children.filter((c) => c.hasAttribute(attribute)).map((c) => c.getAttribute(attribute)!));
  duplicate(path, element, attribute, v, all);
}

function duplicate(path: string, element: string, attribute: string, v: string, all: Set<string>): never {
  const field = `${path}/${element}[@${attribute}="${v}"]/@${attribute}`;
  const alt = element === 'list' ? freeName(v, all) : null;
  throw conflict('uniqueness-failure', `${element}@${attribute} "${v}" is already used in this list`, {
    // RFC 4825 §11: the field is a node selector relative to the document, percent-encoded as in a URI
    inner: `<exists field="${escapeAttr(encodeNodeSelector(field))}">${alt ? `<alt-value>${escapeAttr(alt)}</alt-value>` : ''}</exists>`,
  });
}

function walkLists(list: El, path: string): void {
  const children = checkSiblings(list, path);
  for (const c of children) if (c.localName === 'list') walkLists(c, `${path}/list[@name="${c.getAttribute('name') ?? ''}"]`);
}

/** The uniqueness checks among one list's children; returns those children. */
function checkSiblings(list: El, path: string): El[] {
  const children = childElements<El>(list, RL);
  for (const [element, attribute] of UNIQUE) {
    const seen = new Set<string>();
    for (const c of children) {
      if (c.localName !== element || !c.hasAttribute(attribute)) continue;
      const v = c.getAttribute(attribute)!;
      if (seen.has(v)) duplicate(path, element, attribute, v, new Set(children.filter((x) => x.localName === element && x.hasAttribute(attribute)).map((x) => x.getAttribute(attribute)!)));
      seen.add(v);
    }
  }
  return children;
}

function freeName(base: string, taken: Set<string>): string {
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

/** The values of `element@attribute` (in the usage's namespace) anywhere in a document. */
export function valuesOf(doc: XmlDocument, ns: string, element: string, attribute: string): string[] {
  const list = doc.getElementsByTagNameNS(ns, element);
  const out: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const v = list[i].getAttribute(attribute);
    if (v !== null) out.push(v);
  }
  return out;
}

/**
 * Refuses a value that another document of the same usage already uses, or that
 * repeats inside this one (409 uniqueness-failure), proposing a free value.
 */
export function checkUniqueAcross(
  values: string[],
  taken: Set<string>,
  root: string,
  element: string,
  attribute: string,
): void {
  const seen = new Set<string>();
  for (const v of values) {
    const key = v.toLowerCase();
    if (taken.has(key) || seen.has(key)) {
      const at = v.lastIndexOf('@');
      let alt: string | null = null;
      for (let i = 2; at > 0 && i < 1000; i++) {
        const candidate = `${v.slice(0, at)}-${i}${v.slice(at)}`;
        if (!taken.has(candidate.toLowerCase()) && !values.some((x) => x.toLowerCase() === candidate.toLowerCase())) {
          alt = candidate;
          break;
        }
      }
      throw conflict('uniqueness-failure', `${element}@${attribute} "${v}" is already used on this server`, {
        inner: `<exists field="${escapeAttr(encodeNodeSelector(`${root}/${element}[@${attribute}="${v}"]/@${attribute}`))}">${alt ? `<alt-value>${escapeAttr(alt)}</alt-value>` : ''}</exists>`,
      });
    }
    seen.add(key);
  }
}
