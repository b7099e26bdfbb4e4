import { conflict, escapeAttr } from './xcap-error.js';
import type { XmlDocument } from './xml-intake.js';

const RL = 'urn:ietf:params:xml:ns:resource-lists';

type El = {
  namespaceURI: string | null;
  localName: string | null;
  childNodes: ArrayLike<{ nodeType: number }>;
  getAttribute(n: string): string | null;
  hasAttribute(n: string): boolean;
};

function kids(el: El): El[] {
  const out: El[] = [];
  for (let i = 0; i < el.childNodes.length; i++) if (el.childNodes[i].nodeType === 1) out.push(el.childNodes[i] as unknown as El);
  return out;
}

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
  const root = doc.documentElement as unknown as El;
  const walk = (list: El, path: string): void => {
    const children = kids(list).filter((c) => c.namespaceURI === RL);
    for (const [element, attribute] of UNIQUE) {
      const seen = new Set<string>();
      const all = new Set(children.filter((c) => c.localName === element && c.hasAttribute(attribute)).map((c) => c.getAttribute(attribute)!));
      for (const c of children) {
        if (c.localName !== element || !c.hasAttribute(attribute)) continue;
        const v = c.getAttribute(attribute)!;
        if (seen.has(v)) {
          const field = `${path}/${element}[@${attribute}="${v}"]/@${attribute}`;
          const alt = element === 'list' ? freeName(v, all) : null;
          throw conflict('uniqueness-failure', `${element}@${attribute} "${v}" is already used in this list`, {
            inner: `<exists field="${escapeAttr(field)}">${alt ? `<alt-value>${escapeAttr(alt)}</alt-value>` : ''}</exists>`,
          });
        }
        seen.add(v);
      }
    }
    for (const c of children) if (c.localName === 'list') walk(c, `${path}/list[@name="${c.getAttribute('name') ?? ''}"]`);
  };
  walk(root, 'resource-lists');
}

function freeName(base: string, taken: Set<string>): string {
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}
