import { DOMParser } from '@xmldom/xmldom';
import type { LocalDomain } from '../core/local-domain.js';
import type { DocumentStore, DocumentKey } from './document-store.js';
import { parseXcapPath } from './xcap-uri.js';
import { selectOne, type DomElement } from './node-selector.js';
import { conflict } from './xcap-error.js';
import { childElements } from './dom.js';
import type { AttributeIndex } from './attribute-index.js';
import type { XmlDocument } from './xml-intake.js';

const RL = 'urn:ietf:params:xml:ns:resource-lists';
const GROUPS = 'urn:oma:xml:poc:list-service';
const CP = 'urn:ietf:params:xml:ns:common-policy';

/** One resolved member of a list or group. */
export interface Member {
  uri: string;
  display: string | null;
  /**
   * RFC 5364 copy control of the entry that named this member, when it had one: `to`, `cc` or
   * `bcc` (cp:copyControl), and whether its URI is to be hidden from the others (cp:anonymize)
   */
  copy?: { control: 'to' | 'cc' | 'bcc'; anonymize: boolean };
}

const COPY = 'urn:ietf:params:xml:ns:copycontrol';

/** An entry's RFC 5364 attributes; none when it has no cp:copyControl (a list that does not use the extension). */
function copyControlOf(el: El & { getAttributeNS(ns: string, name: string): string | null }): Member['copy'] {
  const control = el.getAttributeNS(COPY, 'copyControl');
  if (control !== 'to' && control !== 'cc' && control !== 'bcc') return undefined;
  const anonymize = el.getAttributeNS(COPY, 'anonymize');
  // xs:boolean: "true" or "1"
  return { control, anonymize: anonymize === 'true' || anonymize === '1' };
}

class ListLoopError extends Error {
  constructor(readonly chain: string[]) {
    super(`reference loop: ${chain.join(' -> ')}`);
    this.name = 'ListLoopError';
  }
}

type El = DomElement & { textContent: string | null; getAttribute(n: string): string | null };

const kids = (el: El, ns: string, local?: string): El[] => childElements<El>(el, ns, local);

/**
 * Resolves URI lists and groups from the shared XDMS for the IM server (X5):
 * nested <list>s, <entry-ref>s and <external> references (RFC 4826 §3.3) that
 * point into our own XCAP root; anything else is not followed. A reference
 * that comes back to a list already being expanded is a loop (S6).
 */
export class ListResolver {
  constructor(
    private readonly store: DocumentStore,
    private readonly domain: LocalDomain,
    private readonly xcapRoot: string,
    private readonly groupUris: AttributeIndex,
  ) {}

  /** The key and node selector an <external anchor> or <entry-ref ref> names, if it is ours. */
  private target(ref: string, relative: boolean): { key: DocumentKey; selector: string | null; query: string } | null {
    let path: string;
    if (relative) path = ref;
    else {
      let url: URL;
      try {
        url = new URL(ref);
      } catch {
        return null;
      }
      if (!/^https?:$/.test(url.protocol) || !this.domain.isLocal(url.hostname) || !url.pathname.startsWith(`${this.xcapRoot}/`)) return null;
      path = url.pathname.slice(this.xcapRoot.length) + (url.search ? url.search : '');
    }
    const q = path.indexOf('?');
    try {
      const u = parseXcapPath(q >= 0 ? path.slice(0, q) : path, q >= 0 ? path.slice(q + 1) : '');
      const owner = u.scope === 'global' ? '' : u.xui!.includes(':') ? u.xui! : this.domain.aor(u.xui!);
      return { key: { auid: u.auid, owner, path: u.document }, selector: u.nodeText, query: q >= 0 ? path.slice(q + 1) : '' };
    } catch {
      return null;
    }
  }

  private async element(ref: string, relative: boolean, override?: { key: DocumentKey; content: string }): Promise<El | null> {
    const t = this.target(ref, relative);
    if (t === null || t.key.auid !== 'resource-lists') return null;
    const same = override && override.key.auid === t.key.auid && override.key.owner === t.key.owner && override.key.path === t.key.path;
    const content = same ? override.content : (await this.store.get(t.key))?.content;
    if (content === undefined) return null;
    const root = new DOMParser().parseFromString(content, 'text/xml').documentElement as unknown as El;
    if (t.selector === null) return root;
    const parsed = parseXcapPath(`${t.key.auid}/global/x/~~/${t.selector}`, t.query).node!;
    return (selectOne(root, parsed, RL)?.element as El | undefined) ?? null;
  }

  /**
   * Every entry of a <list> (or <resource-lists>) element, depth first, each URI once.
   * `override` stands in for a document being written, so a PUT can be checked before it lands.
   */
  async expand(list: El, override?: { key: DocumentKey; content: string }, chain: string[] = []): Promise<Member[]> {
    const out: Member[] = [];
    const seen = new Set<string>();
    const add = (m: Member): void => {
      if (!seen.has(m.uri)) {
        seen.add(m.uri);
        out.push(m);
      }
    };
    const walk = async (el: El): Promise<void> => {
      for (let i = 0; i < el.childNodes.length; i++) {
        const c = el.childNodes[i] as unknown as El & { nodeType: number };
        if (c.nodeType !== 1 || c.namespaceURI !== RL) continue;
        if (c.localName === 'entry' && c.getAttribute('uri')) {
          const copy = copyControlOf(c as never);
          add({ uri: c.getAttribute('uri')!, display: kids(c, RL, 'display-name')[0]?.textContent ?? null, ...(copy ? { copy } : {}) });
        }
        else if (c.localName === 'list') await walk(c);
        else if (c.localName === 'entry-ref' || c.localName === 'external') {
          const ref = c.getAttribute(c.localName === 'entry-ref' ? 'ref' : 'anchor') ?? '';
          if (chain.includes(ref)) throw new ListLoopError([...chain, ref]);
          const target = await this.element(ref, c.localName === 'entry-ref', override);
          if (target === null) continue; // not ours or gone: not followed
          if (c.localName === 'entry-ref') {
            if (target.getAttribute('uri')) add({ uri: target.getAttribute('uri')!, display: kids(target, RL, 'display-name')[0]?.textContent ?? null });
          } else for (const m of await this.expand(target, override, [...chain, ref])) add(m);
        }
      }
    };
    await walk(list);
    return out;
  }

  /** The members of the list an XCAP URI names (RLS `<resource-list>`, RFC 4826 §4.2), or null when it is not ours or gone. */
  async membersAt(ref: string): Promise<Member[] | null> {
    const el = await this.element(ref, false);
    return el === null ? null : this.expand(el);
  }

  /** Refuses a resource-lists document whose external references would loop (409 constraint-failure). */
  async checkNoLoops(key: DocumentKey, content: string, dom?: XmlDocument): Promise<void> {
    // the caller's DOM of `content`, when it has one: a 200-entry list is not parsed twice per write
    const root = (dom ?? new DOMParser().parseFromString(content, 'text/xml')).documentElement as unknown as El;
    try {
      await this.expand(root, { key, content });
    } catch (err) {
      if (err instanceof ListLoopError) throw conflict('constraint-failure', `the lists refer to each other in a loop (${err.chain.length - 1} references)`);
      throw err;
    }
  }

  /** The members of a group (org.openmobilealliance.groups) by its group URI, or null if no such group. */
  async groupMembers(groupUri: string): Promise<{ displayName: string | null; maxParticipants: number | null; membersOnly: boolean; members: Member[] } | null> {
    const [key] = await this.groupUris.documentsWith(groupUri);
    if (key === undefined) return null;
    const row = await this.store.get(key);
    if (row === null) return null;
    const root = new DOMParser().parseFromString(row.content, 'text/xml').documentElement as unknown as El;
    const service = kids(root, GROUPS, 'list-service').find((s) => s.getAttribute('uri')?.toLowerCase() === groupUri.toLowerCase());
    if (!service) return null;
    const list = kids(service, GROUPS, 'list')[0];
    const members: Member[] = [];
    if (list) {
      // the group's <list> holds rl:entryType entries (in the list-service namespace) and rl externals
      for (const e of kids(list, GROUPS, 'entry')) if (e.getAttribute('uri')) members.push({ uri: e.getAttribute('uri')!, display: null });
      for (const x of kids(list, GROUPS, 'external')) {
        const target = await this.element(x.getAttribute('anchor') ?? '', false);
        if (target) for (const m of await this.expand(target)) if (!members.some((k) => k.uri === m.uri)) members.push(m);
      }
    }
    const max = kids(service, GROUPS, 'max-participant-count')[0]?.textContent;
    // public when a rule lets anyone (<cp:many/>) join (OMA PoC XDM join-handling); else members only
    const rules = kids(service, CP, 'ruleset').flatMap((rs) => kids(rs, CP, 'rule'));
    const isPublic = rules.some(
      (r) =>
        kids(r, CP, 'conditions').some((c) => kids(c, CP, 'identity').some((i) => kids(i, CP, 'many').length > 0)) &&
        kids(r, CP, 'actions').some((a) => kids(a, GROUPS, 'join-handling').some((j) => j.textContent?.trim() === 'true')),
    );
    return { displayName: kids(service, GROUPS, 'display-name')[0]?.textContent ?? null, maxParticipants: max ? Number(max) : null, membersOnly: !isPublic, members };
  }

}
