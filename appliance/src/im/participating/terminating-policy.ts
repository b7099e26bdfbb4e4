import type { DocumentStore } from '../../xdms/document-store.js';
import type { LocalDomain } from '../../core/local-domain.js';
import { SipError } from '../../sip/errors.js';
import { AccessRules } from './access-rules.js';

/** The document that holds a user's IM access rules (the IM XDMS, Y2). */
export const ACCESS_RULES_AUID = 'im-access-rules';

/**
 * The recipient's participating function on the terminating side: it applies
 * their block list to incoming IM (Y2). Parsed rules are cached per user and
 * dropped when the document changes, so the hot path reads no XML.
 */
export class TerminatingPolicy {
  private readonly cache = new Map<string, AccessRules>();

  constructor(
    private readonly docs: DocumentStore,
    private readonly domain: LocalDomain,
  ) {
    docs.onChange((key) => {
      if (key.auid === ACCESS_RULES_AUID) this.cache.clear();
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
