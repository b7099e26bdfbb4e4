import { DOMParser, type Element } from '@xmldom/xmldom';
import type { DocumentStore } from '../xdms/document-store.js';
import type { AttributeIndex } from '../xdms/attribute-index.js';
import type { ListResolver, Member } from '../xdms/list-resolver.js';
import type { LocalDomain } from '../core/local-domain.js';
import { childElements } from '../xdms/dom.js';

const RLS = 'urn:ietf:params:xml:ns:rls-services';
const RL = 'urn:ietf:params:xml:ns:resource-lists';

/** The suffix of a user's default buddy list URI: `sip:alice+buddies@domain` (no user name has a "+"). */
export const BUDDIES_SUFFIX = '+buddies';
/** The list of a user's resource-lists document taken as their buddy list, by name, first found. */
const BUDDY_LIST_NAMES = ['oma_buddylist', 'buddies'];

/** A list the resource list server serves: its owner (who may subscribe) and its members. */
export interface ServedList {
  uri: string;
  owner: string;
  members: Member[];
}

/**
 * Finds the lists the RLS serves (RFC 4662 §2, RFC 4826 §4): a `<service>` of someone's
 * rls-services document, by its URI, with members from its `<resource-list>` reference or its
 * inline `<list>`; and each user's default buddy list, `sip:<user>+buddies@<domain>`, which is
 * the list named `oma_buddylist` (OMA) or `buddies` of their resource-lists `index`, or every
 * entry of that document when it has neither.
 */
export class ListLookup {
  constructor(
    private readonly docs: DocumentStore,
    private readonly services: AttributeIndex,
    private readonly resolver: ListResolver,
    private readonly domain: LocalDomain,
  ) {}

  /** The list a URI names, or null when it is no list of ours. */
  async find(uri: string): Promise<ServedList | null> {
    return (await this.buddyList(uri)) ?? (await this.service(uri));
  }

  private async buddyList(uri: string): Promise<ServedList | null> {
    const m = /^sips?:([^@;]+)@([^;>]+)/i.exec(uri);
    if (!m || !m[1].toLowerCase().endsWith(BUDDIES_SUFFIX) || !this.domain.isLocal(m[2])) return null;
    const owner = this.domain.aor(m[1].toLowerCase().slice(0, -BUDDIES_SUFFIX.length));
    const row = await this.docs.get({ auid: 'resource-lists', owner, path: 'index' });
    const canonical = `sip:${m[1].toLowerCase()}@${this.domain.name}`;
    if (row === null) return { uri: canonical, owner, members: [] };
    const root = new DOMParser().parseFromString(row.content, 'text/xml').documentElement;
    if (!root) return { uri: canonical, owner, members: [] };
    const lists = childElements<Element>(root, RL, 'list');
    const chosen = BUDDY_LIST_NAMES.map((n) => lists.find((l) => l.getAttribute('name') === n)).find((l) => l !== undefined) ?? root;
    return { uri: canonical, owner, members: await this.resolver.expand(chosen as never) };
  }

  private async service(uri: string): Promise<ServedList | null> {
    const key = uri.replace(/^<|>$/g, '');
    const [docKey] = await this.services.documentsWith(key);
    if (docKey === undefined) return null;
    const row = await this.docs.get(docKey);
    if (row === null) return null;
    const root = new DOMParser().parseFromString(row.content, 'text/xml').documentElement;
    const service = root ? childElements<Element>(root, RLS, 'service').find((s) => s.getAttribute('uri')?.toLowerCase() === key.toLowerCase()) : undefined;
    if (!service) return null;
    const ref = childElements<Element>(service, RLS, 'resource-list')[0];
    const inline = childElements<Element>(service, RLS, 'list')[0];
    let members: Member[] = [];
    if (ref) members = (await this.resolver.membersAt((ref.textContent ?? '').trim())) ?? [];
    else if (inline) members = await this.resolver.expand(inline as never);
    return { uri: service.getAttribute('uri')!, owner: docKey.owner, members };
  }
}
