import type { SipStack } from '../sip/stack.js';
import { Headers } from '../sip/message/headers.js';
import { SipRequest } from '../sip/message/message.js';
import { parseUri } from '../sip/message/uri.js';
import type { LocalDomain } from '../core/local-domain.js';
import type { MessageHandler } from '../im/pager/message-handler.js';
import type { SenderIdentity } from '../im/participating/originating-policy.js';
import type { Logger } from '../log.js';
import type { QuotaWarning } from './storage-quota.js';

/** "12.3 MiB": sizes as a person reads them. */
export function readableBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[i]}`;
}

/** The text of a warning: usage, quota and percent, and what happens at 100 %. */
export function noticeText(w: QuotaWarning): string {
  const { usedBytes, quotaBytes, percent } = w.usage;
  const figures = `${readableBytes(usedBytes)} of ${readableBytes(quotaBytes)} (${percent}%)`;
  if (w.level >= 100) {
    return `Storage quota reached: you store ${figures}. New messages are not stored until you delete stored conversations; live messages still reach you.`;
  }
  return `Storage warning: you store ${figures} of your storage quota, past ${w.level}%. At 100% new messages are no longer stored.`;
}

/**
 * Tells a user that their storage crossed a threshold (H3), or that a conversation was not
 * stored (refusal-notices.ts): a MESSAGE (RFC 3428) from the
 * service's own identity, to their devices like any message, or stored for them when none is
 * online — stored without counting against the quota it warns about (the deferred store's hook
 * does not count this sender).
 */
export class QuotaNotices {
  private readonly service: string;

  constructor(
    private readonly stack: SipStack,
    private readonly pager: MessageHandler,
    private readonly domain: LocalDomain,
    serviceUser: string,
    private readonly log: Logger,
  ) {
    this.service = domain.aor(serviceUser);
  }

  /** The AOR the notices come from. */
  get serviceAor(): string {
    return this.service;
  }

  /** A threshold crossed: its warning. */
  async send(w: QuotaWarning): Promise<void> {
    await this.tell(w.usage.user, noticeText(w), { level: w.level });
  }

  /**
   * Any word from storage to `user` (a user name), as a MESSAGE from the service (a warning, or
   * which conversation was not stored: history/refusal-notices.ts). Never throws.
   */
  async tell(user: string, text: string, about: Record<string, unknown> = {}): Promise<void> {
    const to = this.domain.aor(user);
    const sender: SenderIdentity = { username: '', aor: this.service, from: `"Storage" <${this.service}>;tag=${this.stack.newId()}`, asserted: `"Storage" <${this.service}>` };
    const h = new Headers();
    h.set('from', sender.from);
    h.set('to', `<${to}>`);
    h.set('call-id', `${this.stack.newId()}@${this.stack.advertisedHost}`);
    h.set('cseq', '1 MESSAGE');
    h.set('max-forwards', '70');
    h.set('content-type', 'text/plain;charset=utf-8');
    try {
      const outcome = await this.pager.deliver(new SipRequest('MESSAGE', parseUri(to), to, h, Buffer.from(text)), sender, user);
      this.log.info({ user, ...about, status: outcome.status }, 'storage notice sent');
    } catch (err) {
      this.log.warn({ err, user, ...about }, 'storage notice not delivered');
    }
  }
}
