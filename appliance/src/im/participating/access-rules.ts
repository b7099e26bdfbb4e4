import { DOMParser } from '@xmldom/xmldom';
import { parseUri, isSipUri, aorOf } from '../../sip/message/uri.js';
import { childElements } from '../../xdms/dom.js';

const children = (el: El, ns?: string, local?: string): El[] => childElements<El>(el, ns, local);

const CP = 'urn:ietf:params:xml:ns:common-policy';
const IR = 'urn:parley:params:xml:ns:im-rules';

/** How a user's IM from one sender is handled (parley-im-rules.xsd). */
export type ImHandling = 'block' | 'polite-block' | 'allow';

/** RFC 4745 §10: values are ordered, and the most permissive matching rule wins. */
const RANK: Record<ImHandling, number> = { block: 0, 'polite-block': 1, allow: 2 };

interface Identity {
  ones: string[];
  manys: { domain: string | null; exceptIds: string[]; exceptDomains: string[] }[];
}

interface Rule {
  /** null = no identity condition: the rule applies to everyone */
  identity: Identity | null;
  validity: { from: number; until: number }[] | null;
  /** a condition we do not understand makes the rule never apply (RFC 4745 §7) */
  unknownCondition: boolean;
  handling: ImHandling | null;
}

type El = {
  namespaceURI: string | null;
  localName: string | null;
  textContent: string | null;
  childNodes: ArrayLike<{ nodeType: number }>;
  getAttribute(n: string): string | null;
  hasAttribute(n: string): boolean;
};

/** The comparable form of an identity URI (RFC 4745 §7.1: compare as the scheme says). */
function identityKey(uri: string): string {
  try {
    const u = parseUri(uri.trim(), 'identity');
    return isSipUri(u) ? aorOf(u) : uri.trim();
  } catch {
    return uri.trim();
  }
}

function parseRule(rule: El): Rule {
  const out: Rule = { identity: null, validity: null, unknownCondition: false, handling: null };
  for (const conditions of children(rule, CP, 'conditions')) {
    for (const c of children(conditions)) {
      if (c.namespaceURI === CP && c.localName === 'identity') {
        const id: Identity = { ones: [], manys: [] };
        for (const one of children(c, CP, 'one')) id.ones.push(identityKey(one.getAttribute('id') ?? ''));
        for (const many of children(c, CP, 'many')) {
          const exceptIds: string[] = [];
          const exceptDomains: string[] = [];
          for (const ex of children(many, CP, 'except')) {
            if (ex.hasAttribute('id')) exceptIds.push(identityKey(ex.getAttribute('id')!));
            if (ex.hasAttribute('domain')) exceptDomains.push(ex.getAttribute('domain')!.toLowerCase());
          }
          id.manys.push({ domain: many.hasAttribute('domain') ? many.getAttribute('domain')!.toLowerCase() : null, exceptIds, exceptDomains });
        }
        out.identity = id;
      } else if (c.namespaceURI === CP && c.localName === 'validity') {
        out.validity = children(c, CP, 'from').map((from, i) => ({
          from: Date.parse(from.textContent ?? ''),
          until: Date.parse(children(c, CP, 'until')[i]?.textContent ?? ''),
        }));
      } else out.unknownCondition = true;
    }
  }
  for (const actions of children(rule, CP, 'actions')) {
    for (const a of children(actions, IR, 'im-handling')) {
      const v = (a.textContent ?? '').trim();
      if (v === 'block' || v === 'polite-block' || v === 'allow') out.handling = v;
    }
  }
  return out;
}

function domainOf(key: string): string {
  return key.slice(key.lastIndexOf('@') + 1).toLowerCase();
}

function identityMatches(id: Identity, sender: string): boolean {
  if (id.ones.includes(sender)) return true;
  const domain = domainOf(sender);
  return id.manys.some((m) => (m.domain === null || m.domain === domain) && !m.exceptIds.includes(sender) && !m.exceptDomains.includes(domain));
}

/** A user's parsed IM access rules (the im-access-rules document). */
export class AccessRules {
  private constructor(private readonly rules: Rule[]) {}

  static parse(xml: string): AccessRules {
    const doc = new DOMParser().parseFromString(xml, 'text/xml');
    const root = doc.documentElement as unknown as El | null;
    if (!root) return new AccessRules([]);
    return new AccessRules(children(root, CP, 'rule').map(parseRule));
  }

  static readonly NONE = new AccessRules([]);

  /** RFC 4745 §10: combine the actions of every matching rule; no match means allow. */
  handlingFor(senderAor: string, now = Date.now()): ImHandling {
    const sender = identityKey(senderAor);
    let best: ImHandling | null = null;
    for (const r of this.rules) {
      if (r.unknownCondition || r.handling === null) continue;
      if (r.identity !== null && !identityMatches(r.identity, sender)) continue;
      if (r.validity !== null && !r.validity.some((v) => now >= v.from && now < v.until)) continue;
      if (best === null || RANK[r.handling] > RANK[best]) best = r.handling;
    }
    return best ?? 'allow';
  }
}
