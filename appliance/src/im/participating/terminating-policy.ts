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
}

const DEFAULT_PREFERENCES: ImPreferences = { delivery: 'deliver' };

function parsePreferences(xml: string): ImPreferences {
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const el = doc.getElementsByTagNameNS(PREFS_NS, 'delivery')[0];
  return { delivery: el?.textContent?.trim() === 'store' ? 'store' : 'deliver' };
}

/**
 * The recipient's participating function on the terminating side: it applies
 * their block list (Y2) and delivery preferences (P2) to incoming IM. Parsed
 * documents are cached per user and dropped when they change, so the hot path
 * reads no XML.
 */
export class TerminatingPolicy {
  private readonly cache = new Map<string, AccessRules>();
  private readonly prefs = new Map<string, ImPreferences>();

  constructor(
    private readonly docs: DocumentStore,
    private readonly domain: LocalDomain,
  ) {
    docs.onChange((key) => {
      if (key.auid === ACCESS_RULES_AUID) this.cache.clear();
      if (key.auid === PREFERENCES_AUID) this.prefs.clear();
    });
  }

  private async rulesOf(username: string): Promise<AccessRules> {
    const cached = this.cache.get(username);
    if (cached) return cached;
    const row = await this.docs.get({ auid: ACCESS_RULES_AUID, owner: this.domain.aor(username), path: 'index' });
    const rules = row === null ? AccessRules.NONE : AccessRules.parse(row.content);
    this.cache.set(username, rules);
    return rules;
  }

  /** The user's delivery and storage preferences (defaults when they have none). */
  async preferences(username: string): Promise<ImPreferences> {
    const cached = this.prefs.get(username);
    if (cached) return cached;
    const row = await this.docs.get({ auid: PREFERENCES_AUID, owner: this.domain.aor(username), path: 'index' });
    const prefs = row === null ? DEFAULT_PREFERENCES : parsePreferences(row.content);
    this.prefs.set(username, prefs);
    return prefs;
  }

  /**
   * 'deliver', or 'discard' for a polite block (the sender is told 202 and
   * nothing more); a block throws 403.
   */
  async check(recipient: string, senderAor: string): Promise<'deliver' | 'discard'> {
    const handling = (await this.rulesOf(recipient)).handlingFor(senderAor);
    if (handling === 'block') throw new SipError(403, 'Forbidden');
    return handling === 'polite-block' ? 'discard' : 'deliver';
  }
}
