import type { AppendRefusal } from './conversation-store.js';

/** A refusal to store for a reason the owner can act on: their quota, or their service profile. */
export type StorageRefusal = Extract<AppendRefusal, { reason: string }>;

/** The conversation a refusal concerns, as its owner knows it (a session refused at set-up has no row: its name only). */
export interface RefusedConversation {
  owner: string;
  /** what the conversation records (conversation-store.ts capture keys): one notice per key */
  captureKey: string;
  /** null when no conversation was started (refused before the first message) */
  publicId: string | null;
  name: string;
}

/** Told when something was not stored for its owner (the captures' `onRefused`). */
export type RefusalHook = (conversation: RefusedConversation, refusal: StorageRefusal) => void;

/** The text telling the owner which conversation was not stored, and why. */
export function refusalText(c: RefusedConversation, refusal: StorageRefusal): string {
  const which = `"${c.name}"${c.publicId === null ? '' : ` (conversation ${c.publicId})`}`;
  if (refusal.refused === 'quota') {
    // not the quota's own words ("Storage quota reached …"): that notice is a different one, told once per crossing
    return `Not stored: ${which}, past your storage quota. New messages in it are not stored until you delete stored conversations; they still reach you.`;
  }
  return `Not stored: ${which}. Your service profile allows no storage of conversations; messages still reach you.`;
}

/**
 * Tells an owner that a conversation they store was refused storage (H3, Y1): once per
 * conversation and reason, and for the quota once per crossing of it (`crossing`: how many times
 * the owner has reached their quota), not per message: a chat past the quota would otherwise
 * bring one notice per line. The words go out through `tell` (the quota notices' MESSAGE from
 * the storage service, quota-notices.ts).
 */
export class RefusalNotices {
  /** owner → the crossing last told about, and the conversations (and reasons) told since */
  private readonly told = new Map<string, { crossing: number; keys: Set<string> }>();

  constructor(
    private readonly tell: (owner: string, text: string) => void,
    private readonly crossing: (owner: string) => number,
  ) {}

  /** The captures' hook: a refusal, told unless this conversation's was already (in this crossing). */
  readonly refused: RefusalHook = (c, refusal) => {
    const crossing = this.crossing(c.owner);
    let seen = this.told.get(c.owner);
    if (seen === undefined || (refusal.refused === 'quota' && seen.crossing !== crossing)) {
      // a new crossing: the quota refusals told before are told again; the profile ones stay told
      const keep = [...(seen?.keys ?? [])].filter((k) => k.startsWith('profile\n'));
      this.told.set(c.owner, (seen = { crossing, keys: new Set(keep) }));
    }
    const key = `${refusal.refused}\n${c.captureKey}`;
    if (seen.keys.has(key)) return;
    seen.keys.add(key);
    this.tell(c.owner, refusalText(c, refusal));
  };
}
