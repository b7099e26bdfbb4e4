import { createHash } from 'node:crypto';
import type { SipRequest } from '../sip/message/message.js';
import type { Logger } from '../log.js';
import type { ConversationStore, NewConversationMessage } from './conversation-store.js';
import { STORE_HEADER, storeRequest } from './store-header.js';
import type { RefusalHook } from './refusal-notices.js';

export { STORE_HEADER } from './store-header.js';

/** The capture key of a pager conversation with `peer` (a user, or a group the messages go to). */
export const pagerKey = (peer: string): string => `pager:${peer.toLowerCase()}`;

/**
 * The capture key of a conversation with an ad-hoc URI list (messages to the conference factory,
 * P3): the same recipients, in any order, are the same conversation.
 */
export const listKey = (recipients: string[]): string =>
  `list:${createHash('sha256').update([...new Set(recipients.map((r) => r.toLowerCase()))].sort().join('\n')).digest('base64url')}`;

/** Who has everything stored without asking (site policy, or the user's preference): storage-policy.ts. */
export interface StoresAll {
  storesAll(aor: string): boolean;
  readonly anyone: boolean;
}

/**
 * Stores pager-mode messages into the conversations of the users who asked (or prefer it, or
 * all, by site policy), once the message was accepted: answered 2xx by a device or stored for
 * later (202). `Conversation-Store: on` on a MESSAGE starts storing the pager conversation with
 * that peer, both ways, this message included; `off` stops it (that message is not stored).
 * The sender's conversation with the recipient and the recipient's with the sender each get it.
 */
export class PagerCapture {
  /** told when a message could not be stored for a user: past their quota, or their profile allows no storage (refusal-notices.ts) */
  onRefused: RefusalHook | null = null;

  constructor(
    private readonly store: ConversationStore,
    private readonly policy: StoresAll,
    private readonly log: Logger,
  ) {}

  /** Reads the sender's storage request before delivery: 'on', 'off' or null. */
  static request(req: SipRequest): 'on' | 'off' | null {
    return storeRequest(req.headers);
  }

  /** Cheap test on the pager's path: does anyone store this message? */
  wanted(req: SipRequest, sender: string, recipient: string): boolean {
    return (
      this.store.records(sender) || this.store.records(recipient) || req.headers.has(STORE_HEADER) || (this.policy.anyone && (this.policy.storesAll(sender) || this.policy.storesAll(recipient)))
    );
  }

  /**
   * Whether the sender's own copy of this message would be refused by her storage quota (H3), so
   * that her answer can say so before the message is stored (or not).
   */
  refusedForSender(req: SipRequest, sender: string, recipient: string): boolean {
    const ask = PagerCapture.request(req);
    if (ask === 'off') return false;
    const stores = ask === 'on' || (this.policy.anyone && this.policy.storesAll(sender)) || this.store.recordingFor(sender, pagerKey(recipient)) !== undefined;
    return stores && (this.store.account?.check?.(sender, req.body.length) ?? null) !== null;
  }

  /** A MESSAGE from `sender` to `recipient` (AORs) was accepted; store it where asked. Never throws. */
  async accepted(req: SipRequest, sender: string, recipient: string): Promise<void> {
    await this.oneToOne(PagerCapture.request(req), sender, recipient, req.headers.get('content-type') ?? 'text/plain', req.body);
  }

  /**
   * A large message (P4, OMA IM "large message mode") for a recipient who cannot take it now was
   * accepted for deferred storage: it is a pager message that came over MSRP, and goes into the
   * same conversations a MESSAGE would (`asked`: `Conversation-Store: on` on the INVITE). When
   * the stored message is later pushed to the recipient, that push is delivery, not a new
   * message, and is not stored again. Never throws.
   */
  async largeMessage(sender: string, recipient: string, asked: boolean, contentType: string, body: Buffer): Promise<void> {
    await this.oneToOne(asked ? 'on' : null, sender, recipient, contentType, body);
  }

  /**
   * The sender's conversation with `peer` a large message's INVITE asked to store (for the 200's
   * Conversation-Store answer): the recording one, or a new one. Null when her profile or quota
   * refuses it (`refusal` says which).
   */
  async conversationFor(owner: string, peer: string): Promise<{ publicId: string } | { refused: 'quota' | 'profile' }> {
    const refusal = this.store.refusalFor(owner, peer);
    if (refusal !== null) return { refused: refusal.refused };
    const key = pagerKey(peer);
    return this.store.recordingFor(owner, key) ?? (await this.store.start(owner, 'pager', key, [peer], `Chat with ${peer.replace(/^sips?:/, '')}`));
  }

  private async oneToOne(ask: 'on' | 'off' | null, sender: string, recipient: string, contentType: string, body: Buffer): Promise<void> {
    try {
      if (ask === 'off') await this.store.stop(sender, pagerKey(recipient));
      const message = { sender, recipients: [recipient], contentType, body };
      const at = Date.now();
      await Promise.all([
        ask === 'off' ? null : this.into(sender, pagerKey(recipient), [recipient], ask === 'on', message, at),
        this.into(recipient, pagerKey(sender), [sender], false, message, at),
      ]);
    } catch (err) {
      this.log.warn({ err }, 'storing a pager message in a conversation failed');
    }
  }

  /** Does the sender of an exploded MESSAGE (P3) have it stored? (cheap; before the fan-out) */
  wantedExploded(req: SipRequest, sender: string): boolean {
    return req.headers.has(STORE_HEADER) || this.store.records(sender) || (this.policy.anyone && this.policy.storesAll(sender));
  }

  /**
   * An exploded MESSAGE (P3) was accepted (202): the sender's conversation with the group (`service`
   * is the group URI) or with the URI list (`service` is the conference factory) gets it once, with
   * every recipient listed, as the sender wrote it (`content`: without the factory's URI list). `off` stops that conversation. Never throws.
   */
  async exploded(req: SipRequest, sender: string, service: string, toGroup: boolean, recipients: string[], content: { contentType: string; body: Buffer }): Promise<void> {
    try {
      const key = toGroup ? pagerKey(service) : listKey(recipients);
      const ask = PagerCapture.request(req);
      if (ask === 'off') {
        await this.store.stop(sender, key);
        return;
      }
      const peers = toGroup ? [service] : recipients;
      const message = { sender, recipients, contentType: content.contentType, body: content.body };
      await this.into(sender, key, peers, ask === 'on', message, Date.now());
    } catch (err) {
      this.log.warn({ err }, 'storing an exploded message in a conversation failed');
    }
  }

  /**
   * One exploded copy (P3) was accepted for `recipient`: into their conversation with the group
   * (`toGroup`) or with the sender (a URI list), if they record it or store everything. Never throws.
   */
  async explodedCopy(sender: string, recipient: string, service: string, toGroup: boolean, content: { contentType: string; body: Buffer }): Promise<void> {
    if (!this.store.records(recipient) && !(this.policy.anyone && this.policy.storesAll(recipient))) return;
    try {
      const peer = toGroup ? service : sender;
      await this.into(recipient, pagerKey(peer), [peer], false, { sender, recipients: [toGroup ? service : recipient], contentType: content.contentType, body: content.body }, Date.now());
    } catch (err) {
      this.log.warn({ err }, 'storing an exploded copy in a conversation failed');
    }
  }

  private async into(owner: string, key: string, peers: string[], asked: boolean, message: NewConversationMessage, at: number): Promise<void> {
    const startAs = asked || this.policy.storesAll(owner) ? { kind: 'pager', peers, name: `Chat with ${peers.map((p) => p.replace(/^sips?:/, '')).join(', ')}` } : null;
    // in the order accepted, also while the conversation's first row is being written (conversation-store.ts)
    const done = await this.store.appendRecording(owner, key, startAs, message, at);
    if (done === undefined) return;
    const { conversation, stored } = done;
    if ('refused' in stored && (stored.refused === 'quota' || stored.refused === 'profile')) this.onRefused?.(conversation, stored);
  }
}
