import type { SipRequest } from '../sip/message/message.js';
import type { Logger } from '../log.js';
import type { ConversationStore } from './conversation-store.js';

/**
 * The request header by which a user asks the server to store a conversation (H1, seed 5.4.7
 * "a user MAY request the network to store a particular IM conversation"): `Conversation-Store: on`
 * on a MESSAGE starts storing the pager conversation with that peer, both ways, this message
 * included; `off` stops it (that message is not stored). The header is ours (RFC 6648: no "X-").
 */
export const STORE_HEADER = 'conversation-store';

/** The capture key of a pager conversation with `peer`. */
export const pagerKey = (peer: string): string => `pager:${peer.toLowerCase()}`;

export interface PagerCaptureOptions {
  /** site policy: every user's pager conversations are stored */
  storeAll: boolean;
}

/**
 * Stores pager-mode messages into the conversations of the users who asked (or all, by site
 * policy), once the message was accepted: answered 2xx by a device or stored for later (202).
 * The sender's conversation with the recipient and the recipient's with the sender each get it.
 */
export class PagerCapture {
  /** told when a message could not be stored for a user: past their quota, or their profile allows no storage (warnings, usage) */
  onRefused: ((owner: string, reason: string) => void) | null = null;

  constructor(
    private readonly store: ConversationStore,
    private readonly opts: PagerCaptureOptions,
    private readonly log: Logger,
  ) {}

  /** Reads the sender's storage request before delivery: 'on', 'off' or null. */
  static request(req: SipRequest): 'on' | 'off' | null {
    const v = req.headers.get(STORE_HEADER)?.trim().toLowerCase();
    return v === 'on' || v === 'off' ? v : null;
  }

  /** Cheap test on the pager's path: does anyone store this message? */
  wanted(req: SipRequest, sender: string, recipient: string): boolean {
    return this.opts.storeAll || this.store.records(sender) || this.store.records(recipient) || req.headers.has(STORE_HEADER);
  }

  /**
   * Whether the sender's own copy of this message would be refused by her storage quota (H3), so
   * that her answer can say so before the message is stored (or not).
   */
  refusedForSender(req: SipRequest, sender: string, recipient: string): boolean {
    const ask = PagerCapture.request(req);
    if (ask === 'off') return false;
    const stores = ask === 'on' || this.opts.storeAll || this.store.recordingFor(sender, pagerKey(recipient)) !== undefined;
    return stores && (this.store.account?.check?.(sender, req.body.length) ?? null) !== null;
  }

  /** A MESSAGE from `sender` to `recipient` (AORs) was accepted; store it where asked. Never throws. */
  async accepted(req: SipRequest, sender: string, recipient: string): Promise<void> {
    try {
      const ask = PagerCapture.request(req);
      if (ask === 'off') await this.store.stop(sender, pagerKey(recipient));
      const message = { sender, recipients: [recipient], contentType: req.headers.get('content-type') ?? 'text/plain', body: req.body };
      const at = Date.now();
      await Promise.all([
        ask === 'off' ? null : this.into(sender, recipient, ask === 'on', message, at),
        this.into(recipient, sender, false, message, at),
      ]);
    } catch (err) {
      this.log.warn({ err }, 'storing a pager message in a conversation failed');
    }
  }

  private async into(owner: string, peer: string, asked: boolean, message: Parameters<ConversationStore['append']>[1], at: number): Promise<void> {
    let conversation = this.store.recordingFor(owner, pagerKey(peer));
    if (conversation === undefined && (asked || this.opts.storeAll)) {
      conversation = await this.store.start(owner, 'pager', pagerKey(peer), [peer], `Chat with ${peer.replace(/^sips?:/, '')}`);
    }
    if (conversation === undefined) return;
    const stored = await this.store.append(conversation, message, at);
    if ('refused' in stored && (stored.refused === 'quota' || stored.refused === 'profile')) this.onRefused?.(owner, stored.reason);
  }
}
