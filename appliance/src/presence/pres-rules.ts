import { DOMParser, type Element } from '@xmldom/xmldom';
import { parseUri, isSipUri, aorOf } from '../sip/message/uri.js';
import { childElements } from '../xdms/dom.js';

const CP = 'urn:ietf:params:xml:ns:common-policy';
const PR = 'urn:ietf:params:xml:ns:pres-rules';
const OCP = 'urn:oma:xml:xdm:common-policy';

/** RFC 5025 §3.2.1 sub-handling, ordered from least to most permissive (block=0 … allow=30). */
export type SubHandling = 'block' | 'confirm' | 'polite-block' | 'allow';
const RANK: Record<SubHandling, number> = { block: 0, confirm: 10, 'polite-block': 20, allow: 30 };

/**
 * What a watcher may see (RFC 5025 §3.3). We support `provide-services`, `provide-persons` and
 * `provide-devices` with their `all-*` forms (anything narrower counts as none), the person
 * attributes `provide-activities`, `-mood`, `-place-is`, `-place-type`, `-privacy`,
 * `-relationship`, `-sphere`, `-status-icon`, `-time-offset`, `-user-input`, `-class`, `-note`,
 * and `provide-all-attributes`. Permissions of all matching rules are combined (union).
 */
export interface Transformations {
  services: boolean;
  persons: boolean;
  devices: boolean;
  allAttributes: boolean;
  /** local names of RPID/PIDF person and tuple children allowed without provide-all-attributes */
  attributes: Set<string>;
}

/** The verdict for one watcher: how their subscription is handled, and what they may see. */
export interface Permission {
  handling: SubHandling;
  provide: Transformations;
  /** no rule matched: the OMA default (confirm) applies */
  byDefault: boolean;
}

/** pres-rules `provide-X` element -> the element local name it releases (RFC 5025 §3.3.x, RFC 4480). */
const ATTRIBUTES: Record<string, string> = {
  'provide-activities': 'activities',
  'provide-class': 'class',
  'provide-deviceID': 'deviceID',
  'provide-mood': 'mood',
  'provide-place-is': 'place-is',
  'provide-place-type': 'place-type',
  'provide-privacy': 'privacy',
  'provide-relationship': 'relationship',
  'provide-status-icon': 'status-icon',
  'provide-sphere': 'sphere',
  'provide-time-offset': 'time-offset',
  'provide-user-input': 'user-input',
  'provide-note': 'note',
};

interface Rule {
  identity: { ones: string[]; manys: { domain: string | null; except: string[]; exceptDomains: string[] }[] } | null;
  otherIdentity: boolean;
  validity: { from: number; until: number }[] | null;
  unknownCondition: boolean;
  handling: SubHandling | null;
  provide: Transformations;
}

function none(): Transformations {
  return { services: false, persons: false, devices: false, allAttributes: false, attributes: new Set() };
}

/** Everything: the presentity watching themselves. */
export const EVERYTHING: Transformations = { services: true, persons: true, devices: true, allAttributes: true, attributes: new Set() };

function key(uri: string): string {
  try {
    const u = parseUri(uri.trim(), 'identity');
    return isSipUri(u) ? aorOf(u).toLowerCase() : uri.trim().toLowerCase();
  } catch {
    return uri.trim().toLowerCase();
  }
}

function parseRule(rule: Element): Rule {
  const out: Rule = { identity: null, otherIdentity: false, validity: null, unknownCondition: false, handling: null, provide: none() };
  for (const conditions of childElements<Element>(rule, CP, 'conditions')) {
    for (const c of childElements<Element>(conditions)) {
      if (c.namespaceURI === CP && c.localName === 'identity') {
        const id: NonNullable<Rule['identity']> = { ones: [], manys: [] };
        for (const one of childElements<Element>(c, CP, 'one')) id.ones.push(key(one.getAttribute('id') ?? ''));
        for (const many of childElements<Element>(c, CP, 'many')) {
          const except: string[] = [];
          const exceptDomains: string[] = [];
          for (const ex of childElements<Element>(many, CP, 'except')) {
            if (ex.hasAttribute('id')) except.push(key(ex.getAttribute('id')!));
            if (ex.hasAttribute('domain')) exceptDomains.push(ex.getAttribute('domain')!.toLowerCase());
          }
          id.manys.push({ domain: many.hasAttribute('domain') ? many.getAttribute('domain')!.toLowerCase() : null, except, exceptDomains });
        }
        out.identity = id;
      } else if (c.namespaceURI === CP && c.localName === 'validity') {
        const untils = childElements<Element>(c, CP, 'until');
        out.validity = childElements<Element>(c, CP, 'from').map((f, i) => ({ from: Date.parse(f.textContent ?? ''), until: Date.parse(untils[i]?.textContent ?? '') }));
      } else if (c.namespaceURI === OCP && c.localName === 'other-identity') {
        // OMA common policy: matches a watcher that no other rule's identity condition names
        out.otherIdentity = true;
      } else {
        // RFC 4745 §7: a rule with a condition we do not understand never applies (sphere,
        // OMA external-list and anonymous-request among them)
        out.unknownCondition = true;
      }
    }
  }
  for (const actions of childElements<Element>(rule, CP, 'actions')) {
    for (const a of childElements<Element>(actions, PR, 'sub-handling')) {
      const v = (a.textContent ?? '').trim();
      if (v in RANK) out.handling = v as SubHandling;
    }
  }
  for (const tr of childElements<Element>(rule, CP, 'transformations')) {
    for (const t of childElements<Element>(tr, PR)) {
      const name = t.localName ?? '';
      if (name === 'provide-services') out.provide.services = childElements(t, PR, 'all-services').length > 0;
      else if (name === 'provide-persons') out.provide.persons = childElements(t, PR, 'all-persons').length > 0;
      else if (name === 'provide-devices') out.provide.devices = childElements(t, PR, 'all-devices').length > 0;
      else if (name === 'provide-all-attributes') out.provide.allAttributes = true;
      else if (name in ATTRIBUTES) {
        // booleanPermission elements say "true"/"false"; the others (activities…) are empty: present = allowed
        if ((t.textContent ?? '').trim() !== 'false') out.provide.attributes.add(ATTRIBUTES[name]);
      }
    }
  }
  return out;
}

/**
 * A presentity's presence authorisation rules (RFC 5025 on RFC 4745; OMA pres-rules usage).
 * The most permissive sub-handling of all matching rules wins and their transformations add
 * up (RFC 4745 §10). With no matching rule, the OMA default applies: confirm (the watcher
 * waits, and the presentity is asked through watcher information).
 */
export class PresRules {
  private constructor(private readonly rules: Rule[]) {}

  static readonly NONE = new PresRules([]);

  static parse(xml: string): PresRules {
    const root = new DOMParser().parseFromString(xml, 'text/xml').documentElement;
    if (!root) return PresRules.NONE;
    return new PresRules(childElements<Element>(root, CP, 'rule').map(parseRule));
  }

  permissionFor(watcherAor: string, now = Date.now()): Permission {
    const watcher = key(watcherAor);
    const domain = watcher.slice(watcher.lastIndexOf('@') + 1);
    const named = (r: Rule) =>
      r.identity !== null &&
      (r.identity.ones.includes(watcher) || r.identity.manys.some((m) => (m.domain === null || m.domain === domain) && !m.except.includes(watcher) && !m.exceptDomains.includes(domain)));
    const namedAnywhere = this.rules.some(named);
    let handling: SubHandling | null = null;
    const provide = none();
    for (const r of this.rules) {
      if (r.unknownCondition) continue;
      if (r.identity !== null && !named(r)) continue;
      if (r.otherIdentity && namedAnywhere) continue;
      if (r.validity !== null && !r.validity.some((v) => now >= v.from && now < v.until)) continue;
      if (r.handling !== null && (handling === null || RANK[r.handling] > RANK[handling])) handling = r.handling;
      provide.services ||= r.provide.services;
      provide.persons ||= r.provide.persons;
      provide.devices ||= r.provide.devices;
      provide.allAttributes ||= r.provide.allAttributes;
      for (const a of r.provide.attributes) provide.attributes.add(a);
    }
    if (handling === null) return { handling: 'confirm', provide, byDefault: true };
    return { handling, provide, byDefault: false };
  }
}
