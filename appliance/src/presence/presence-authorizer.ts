import type { DocumentStore } from '../xdms/document-store.js';
import { PresRules, EVERYTHING, type Permission } from './pres-rules.js';

/** Where a presentity's rules live: the OMA usage's document first, else RFC 5025's. */
const SOURCES = [
  { auid: 'org.openmobilealliance.pres-rules', path: 'pres-rules' },
  { auid: 'pres-rules', path: 'index' },
];

/**
 * The presence server's authorisation (R2): each presentity's pres-rules from the IM XDMS,
 * parsed once and kept until an XCAP write changes them, at which point listeners hear of it
 * so existing subscriptions follow the new rules at once. A read overtaken by a change is not
 * kept (the generation check, as in the terminating policy's cache).
 *
 * IM block lists (im-access-rules) are a separate matter: they never grant presence, and
 * presence rules never let a blocked sender's messages through.
 */
export class PresenceAuthorizer {
  private readonly rules = new Map<string, PresRules>();
  private readonly generations = new Map<string, number>();
  private readonly listeners: ((presentity: string) => void)[] = [];

  constructor(private readonly docs: DocumentStore) {
    docs.onChange((c) => {
      if (c.owner === '' || !SOURCES.some((s) => s.auid === c.auid)) return;
      this.rules.delete(c.owner);
      this.generations.set(c.owner, (this.generations.get(c.owner) ?? 0) + 1);
      for (const l of this.listeners) l(c.owner);
    });
  }

  /** Told when a presentity's rules change. */
  onChange(listener: (presentity: string) => void): void {
    this.listeners.push(listener);
  }

  /** What `watcher` may do and see of `presentity`. A presentity watching themselves sees everything. */
  async permission(presentity: string, watcher: string): Promise<Permission> {
    if (presentity === watcher) return { handling: 'allow', provide: EVERYTHING, byDefault: false };
    return (await this.rulesOf(presentity)).permissionFor(watcher);
  }

  private async rulesOf(presentity: string): Promise<PresRules> {
    const cached = this.rules.get(presentity);
    if (cached !== undefined) return cached;
    const generation = this.generations.get(presentity) ?? 0;
    let rules = PresRules.NONE;
    for (const s of SOURCES) {
      const row = await this.docs.get({ auid: s.auid, owner: presentity, path: s.path });
      if (row !== null) {
        rules = PresRules.parse(row.content);
        break;
      }
    }
    if ((this.generations.get(presentity) ?? 0) === generation) this.rules.set(presentity, rules);
    return rules;
  }
}
