import { DOMImplementation, DOMParser, XMLSerializer } from '@xmldom/xmldom';
import type { Group } from '@parley/shared';
import { childElements } from '../xdms/dom.js';
import type { XmlDocument } from '../xdms/xml-intake.js';

/** OMA PoC list service (groups), RFC 4745 common policy, Parley's IM rules. */
export const GROUPS_NS = 'urn:oma:xml:poc:list-service';
const CP = 'urn:ietf:params:xml:ns:common-policy';
const IR = 'urn:parley:params:xml:ns:im-rules';
/** The rule the console writes for a group's visibility, and for a user's block list. */
const JOIN_RULE = 'parley-join';
const BLOCK_RULE = 'parley-block';

type El = {
  namespaceURI: string | null;
  localName: string | null;
  textContent: string | null;
  childNodes: ArrayLike<{ nodeType: number }>;
  parentNode: El | null;
  getAttribute(n: string): string | null;
  setAttribute(n: string, v: string): void;
  appendChild(c: unknown): unknown;
  removeChild(c: unknown): unknown;
};
type Doc = { createElementNS(ns: string, q: string): El; createTextNode(t: string): unknown; documentElement: El | null };

const kids = (el: El, ns?: string, local?: string): El[] => childElements<El>(el, ns, local);
const parse = (xml: string): Doc => new DOMParser().parseFromString(xml, 'text/xml') as unknown as Doc;
/** The document as text, with one XML declaration (a parsed document keeps its own). */
export function serialize(doc: XmlDocument): string {
  const text = new XMLSerializer().serializeToString(doc as never);
  return text.startsWith('<?xml') ? text : `<?xml version="1.0" encoding="UTF-8"?>\n${text}`;
}

/** A group's view: what the console shows, read from one <list-service>. */
function groupOf(service: El, nameOf: (uri: string) => string): Group {
  const uri = service.getAttribute('uri') ?? '';
  const list = kids(service, GROUPS_NS, 'list')[0];
  const max = kids(service, GROUPS_NS, 'max-participant-count')[0]?.textContent?.trim();
  const rules = kids(service, CP, 'ruleset').flatMap((rs) => kids(rs, CP, 'rule'));
  // public: a rule lets anyone (<many/>) join; otherwise only members may (OMA PoC XDM join-handling)
  const isPublic = rules.some(
    (r) =>
      kids(r, CP, 'conditions').some((c) => kids(c, CP, 'identity').some((i) => kids(i, CP, 'many').length > 0)) &&
      kids(r, CP, 'actions').some((a) => kids(a, GROUPS_NS, 'join-handling').some((j) => j.textContent?.trim() === 'true')),
  );
  return {
    name: nameOf(uri),
    uri,
    displayName: kids(service, GROUPS_NS, 'display-name')[0]?.textContent ?? '',
    visibility: isPublic ? 'public' : 'private',
    maxParticipants: max ? Number(max) : null,
    members: list ? kids(list, GROUPS_NS, 'entry').map((e) => e.getAttribute('uri') ?? '') : [],
  };
}

/** Every group of a user's groups document (org.openmobilealliance.groups, `index`). */
export function readGroups(xml: string | null, nameOf: (uri: string) => string): Group[] {
  if (xml === null) return [];
  const root = parse(xml).documentElement;
  return root ? kids(root, GROUPS_NS, 'list-service').map((s) => groupOf(s, nameOf)) : [];
}

/**
 * The document with one group put in (replacing the <list-service> of that URI, or added):
 * display name, members, participant limit and the join rule are rewritten; what the console
 * does not manage (invite-members, other rules, foreign elements) is kept.
 */
export function putGroup(xml: string | null, g: Omit<Group, 'name'>, domain: string): XmlDocument {
  const doc: Doc =
    xml === null ? (new DOMImplementation().createDocument(GROUPS_NS, 'group', null) as unknown as Doc) : parse(xml);
  const root = doc.documentElement!;
  const el = (ns: string, q: string, text?: string): El => {
    const e = doc.createElementNS(ns, q);
    if (text !== undefined) e.appendChild(doc.createTextNode(text));
    return e;
  };
  const old = kids(root, GROUPS_NS, 'list-service').find((s) => s.getAttribute('uri')?.toLowerCase() === g.uri.toLowerCase());
  const service = el(GROUPS_NS, 'list-service');
  service.setAttribute('uri', g.uri);
  if (g.displayName !== '') service.appendChild(el(GROUPS_NS, 'display-name', g.displayName));
  const list = el(GROUPS_NS, 'list');
  for (const m of g.members) {
    const entry = el(GROUPS_NS, 'entry');
    entry.setAttribute('uri', m);
    list.appendChild(entry);
  }
  service.appendChild(list);
  const invite = old ? kids(old, GROUPS_NS, 'invite-members')[0] : undefined;
  if (invite) service.appendChild(invite);
  if (g.maxParticipants !== null) service.appendChild(el(GROUPS_NS, 'max-participant-count', String(g.maxParticipants)));
  // the join rule: anyone of the domain (public) or members only (private)
  const ruleset = (old ? kids(old, CP, 'ruleset')[0] : undefined) ?? el(CP, 'cp:ruleset');
  for (const r of kids(ruleset, CP, 'rule')) if (r.getAttribute('id')?.startsWith(JOIN_RULE)) ruleset.removeChild(r);
  const rule = el(CP, 'cp:rule');
  // rule ids are xs:ID, unique in the whole document: one per group
  rule.setAttribute('id', `${JOIN_RULE}-${g.uri.slice(g.uri.indexOf(':') + 1, g.uri.indexOf('@'))}`);
  const conditions = el(CP, 'cp:conditions');
  if (g.visibility === 'public') {
    const identity = el(CP, 'cp:identity');
    const many = el(CP, 'cp:many');
    many.setAttribute('domain', domain);
    identity.appendChild(many);
    conditions.appendChild(identity);
  } else conditions.appendChild(el(GROUPS_NS, 'is-list-member'));
  rule.appendChild(conditions);
  const actions = el(CP, 'cp:actions');
  actions.appendChild(el(GROUPS_NS, 'join-handling', 'true'));
  rule.appendChild(actions);
  ruleset.appendChild(rule);
  service.appendChild(ruleset);
  if (old) {
    for (const c of kids(old)) if (c.namespaceURI !== GROUPS_NS && !(c.namespaceURI === CP && c.localName === 'ruleset')) service.appendChild(c);
    (root as unknown as { replaceChild(n: unknown, o: unknown): void }).replaceChild(service, old);
  } else root.appendChild(service);
  return doc as unknown as XmlDocument;
}

/** The document without the group, or null when no group is left (a <group> needs one). */
export function removeGroup(xml: string, uri: string): XmlDocument | null | 'absent' {
  const doc = parse(xml);
  const root = doc.documentElement!;
  const services = kids(root, GROUPS_NS, 'list-service');
  const old = services.find((s) => s.getAttribute('uri')?.toLowerCase() === uri.toLowerCase());
  if (!old) return 'absent';
  if (services.length === 1) return null;
  root.removeChild(old);
  return doc as unknown as XmlDocument;
}

/** The senders a user blocks: the <one> identities of every rule whose handling is `block`. */
export function readBlocked(xml: string | null): string[] {
  if (xml === null) return [];
  const root = parse(xml).documentElement;
  if (!root) return [];
  const out: string[] = [];
  for (const rule of kids(root, CP, 'rule')) {
    const blocks = kids(rule, CP, 'actions').some((a) => kids(a, IR, 'im-handling').some((h) => h.textContent?.trim() === 'block'));
    if (!blocks) continue;
    for (const c of kids(rule, CP, 'conditions')) for (const i of kids(c, CP, 'identity')) for (const o of kids(i, CP, 'one')) out.push(o.getAttribute('id') ?? '');
  }
  return [...new Set(out)];
}

/**
 * The access rules with the block list replaced: rules that only block listed senders (a
 * block action, <one> identities and no other condition) go, and one `parley-block` rule
 * holds the new list. Other rules (allow lists, polite blocks, time-limited ones) are kept.
 */
export function putBlocked(xml: string | null, senders: string[]): XmlDocument {
  const doc: Doc = xml === null ? (new DOMImplementation().createDocument(CP, 'cp:ruleset', null) as unknown as Doc) : parse(xml);
  const root = doc.documentElement!;
  const el = (ns: string, q: string): El => doc.createElementNS(ns, q);
  for (const rule of kids(root, CP, 'rule')) {
    const actions = kids(rule, CP, 'actions').flatMap((a) => kids(a));
    const conditions = kids(rule, CP, 'conditions').flatMap((c) => kids(c));
    const onlyBlock = actions.length === 1 && actions[0].namespaceURI === IR && actions[0].textContent?.trim() === 'block';
    const onlyOnes = conditions.length > 0 && conditions.every((c) => c.namespaceURI === CP && c.localName === 'identity' && kids(c).every((i) => i.localName === 'one'));
    if (onlyBlock && onlyOnes) root.removeChild(rule);
  }
  if (senders.length > 0) {
    const rule = el(CP, 'cp:rule');
    rule.setAttribute('id', BLOCK_RULE);
    const conditions = el(CP, 'cp:conditions');
    const identity = el(CP, 'cp:identity');
    for (const s of senders) {
      const one = el(CP, 'cp:one');
      one.setAttribute('id', s);
      identity.appendChild(one);
    }
    conditions.appendChild(identity);
    rule.appendChild(conditions);
    const actions = el(CP, 'cp:actions');
    const handling = el(IR, 'ir:im-handling');
    handling.appendChild(doc.createTextNode('block'));
    actions.appendChild(handling);
    rule.appendChild(actions);
    root.appendChild(rule);
  }
  return doc as unknown as XmlDocument;
}
