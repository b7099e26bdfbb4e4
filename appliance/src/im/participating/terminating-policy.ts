import type { DocumentStore } from '../../xdms/document-store.js';
import type { LocalDomain } from '../../core/local-domain.js';
import { SipError } from '../../sip/errors.js';
import { DOMParser } from '@xmldom/xmldom';
import { AccessRules } from './access-rules.js';

/** The document that holds a user's IM access rules (the IM XDMS, Y2). */
export const ACCESS_RULES_AUID = 'im-access-rules';
/** The document that holds a user's delivery and storage preferences (Y3, P2). */
export const PREFERENCES_AUID = 'im-preferences';

const PREFS_NS = 'urn:parley:params:xml:ns:im-prefs';

export interface ImPreferences {
  /** 'store': keep every message for the user instead of delivering it live (P2) */
  delivery: 'deliver' | 'store';
  /** "store all my conversations" (H1, Y3): pager, sessions and rooms are stored without asking each time */
  storeConversations: boolean;
}

export const DEFAULT_PREFERENCES: ImPreferences = { delivery: 'deliver', storeConversations: false };

/** Reads an im-preferences document (parley-im-prefs.xsd; it was validated when it was stored). */
export function parsePreferences(xml: string): ImPreferences {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const el = doc.getElementsByTagNameNS(PREFS_NS, 'delivery')[0];
  // xs:boolean: "true" or "1" (XML Schema Part 2 §3.2.2)
  const store = doc.getElementsByTagNameNS(PREFS_NS, 'store-conversations')[0]?.textContent?.trim();
  return { delivery: el?.textContent?.trim() === 'store' ? 'store' : 'deliver', storeConversations: store === 'true' || store === '1' };
}

/**
 * The recipient's participating function on the terminating side: it applies
 * their block list (Y2) and delivery preferences (P2) to incoming IM. Parsed
 * documents are cached per user and dropped when they change, so the hot path
 * reads no XML.
 */
export class TerminatingPolicy {
  private readonly rules: DocumentCache<AccessRules>;
  private readonly prefs: DocumentCache<ImPreferences>;

  constructor(docs: DocumentStore, domain: LocalDomain) {
    this.rules = new DocumentCache(docs, domain, ACCESS_RULES_AUID, (xml) => (xml === null ? AccessRules.NONE : AccessRules.parse(xml)));
    this.prefs = new DocumentCache(docs, domain, PREFERENCES_AUID, (xml) => (xml === null ? DEFAULT_PREFERENCES : parsePreferences(xml)));
  }

  /** The user's delivery and storage preferences (defaults when they have none). */
  preferences(username: string): Promise<ImPreferences> {
    return this.prefs.of(username);
  }

  /** As `preferences`, answered at once when the document is cached (the relay's path), else undefined. */
  cachedPreferences(username: string): ImPreferences | undefined {
    return this.prefs.cached(username);
  }

  /**
   * 'deliver', or 'discard' for a polite block (the sender is told 202 and
   * nothing more); a block throws 403.
   */
  async check(recipient: string, senderAor: string): Promise<'deliver' | 'discard'> {
    return handlingOf(await this.rules.of(recipient), senderAor);
  }

  /**
   * As `check`, answered at once when the recipient's rules are cached, else undefined: a relayed
   * MESSAGE then waits on no promise for documents it already has.
   */
  checkCached(recipient: string, senderAor: string): 'deliver' | 'discard' | undefined {
    const rules = this.rules.cached(recipient);
    return rules === undefined ? undefined : handlingOf(rules, senderAor);
  }
}

function handlingOf(rules: AccessRules, senderAor: string): 'deliver' | 'discard' {
  const handling = rules.handlingFor(senderAor);
  if (handling === 'block') throw new SipError(403, 'Forbidden');
  return handling === 'polite-block' ? 'discard' : 'deliver';
}

/**
 * One user document (`index` of an AUID), parsed once and kept until it changes. A read that
 * started before a change must not be cached after it: each user's entry has a generation,
 * bumped by every change, and a result is kept only if the generation did not move while it
 * was being read (otherwise a new block list could stay unenforced until the next edit).
 */
class DocumentCache<T> {
  private readonly values = new Map<string, T>();
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly docs: DocumentStore,
    private readonly domain: LocalDomain,
    private readonly auid: string,
    private readonly parse: (xml: string | null) => T,
  ) {
    docs.onChange((change) => {
      if (change.auid !== auid) return;
      const user = domain.userOf(change.owner);
      if (user === null) return;
      this.values.delete(user);
      this.generations.set(user, (this.generations.get(user) ?? 0) + 1);
    });
  }

  /** The parsed document when it is cached (read once, unchanged since), else undefined. */
  cached(username: string): T | undefined {
    return this.values.get(username);
  }

  async of(username: string): Promise<T> {
    const cached = this.values.get(username);
    if (cached !== undefined) return cached;
    const generation = this.generations.get(username) ?? 0;
    const row = await this.docs.get({ auid: this.auid, owner: this.domain.aor(username), path: 'index' });
    const value = this.parse(row === null ? null : row.content);
    if ((this.generations.get(username) ?? 0) === generation) this.values.set(username, value);
    return value;
  }
}
