import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack } from '../sip/stack.js';
import type { Dialog } from '../sip/dialog/dialog.js';
import { SipError } from '../sip/errors.js';
import type { Authenticator } from '../core/authenticator.js';
import { authenticateSip } from '../core/sip-authentication.js';
import type { OriginatingPolicy } from '../im/participating/originating-policy.js';
import type { MsrpEndpoint } from '../msrp/msrp-endpoint.js';
import type { MsrpSession } from '../msrp/msrp-session.js';
import { callerDialog, ownContact, sendBye } from '../im/session/call-legs.js';
import { answerFor, legTransport, readOffer } from '../im/session/session-sdp.js';
import type { Logger } from '../log.js';
import type { ConversationStore } from './conversation-store.js';
import { replayCpim } from './replay-cpim.js';

/** The user part of a conversation's replay URI: `sip:history-<publicId>@<domain>`. */
export const REPLAY_PREFIX = 'history-';

export interface ReplayOptions {
  /** our a=max-size */
  maxMessageBytes: number;
  /** how long the MSRP connection may take to come up after the 200 */
  bindTimeoutMs: number;
  /** messages read from the store (and sent) at a time */
  pageSize: number;
}

export interface ReplayServices {
  stack: SipStack;
  auth: Authenticator;
  originating: OriginatingPolicy;
  endpoint: MsrpEndpoint;
  store: ConversationStore;
  log: Logger;
}

interface Replay {
  dialog: Dialog;
  /** our SDP answer, offered again in the 200 to a re-INVITE without an offer (RFC 3261 §14.2) */
  sdp: string;
  leg: MsrpSession;
  /** the client ended it (BYE) or it is over */
  ended: boolean;
}

/**
 * Replay of a stored conversation over MSRP (H1 retrieval): the owner INVITEs the conversation's
 * URI with an MSRP offer; we answer as an MSRP endpoint (a=sendonly: we only send), and once the
 * MSRP connection is up SEND every stored message in order as message/cpim with its original
 * From and To and `DateTime:` the server's storage time (RFC 3862 §4.4, replay-cpim.ts), each
 * waiting for its 200. When the last one is acknowledged and the client's ACK has come
 * (RFC 3261 §15), we send BYE: a replay is a transfer with an end, like a large message
 * (OMA SIMPLE IM), and clients show the messages whether or not they stay. A BYE from the client
 * stops it early. Others get 403, an unknown conversation 404.
 */
export class ReplayHandler {
  private readonly replays = new Map<string, Replay>();

  constructor(
    private readonly s: ReplayServices,
    private readonly opts: ReplayOptions,
  ) {}

  /** An INVITE outside a dialog to a replay URI, or a request in one of our replay dialogs. */
  claims(req: SipRequest): boolean {
    if (req.toTag !== undefined) return this.replays.has(`${req.callId}|${req.toTag}`);
    return req.method === 'INVITE' && (req.sipUri?.user ?? '').startsWith(REPLAY_PREFIX);
  }

  get size(): number {
    return this.replays.size;
  }

  readonly handleInvite = async (req: SipRequest, tx: ServerTransaction): Promise<void> => {
    if (req.toTag !== undefined) {
      // a refresh: the session stays as it is; a new offer cannot be taken (RFC 3261 §14.2: 488 keeps the old one)
      const replay = this.replays.get(`${req.callId}|${req.toTag}`);
      if (replay === undefined) throw new SipError(481, 'Call/Transaction Does Not Exist');
      if (req.body.length > 0) throw new SipError(488, 'A replay session takes no new offer');
      this.s.stack.reply(tx, 200, 'OK', { headers: { Contact: replay.dialog.state.localContact }, body: replay.sdp, contentType: 'application/sdp' });
      return;
    }
    const sender = this.s.originating.identify(req, authenticateSip(this.s.auth, req, tx.source, false));
    const publicId = (req.sipUri?.user ?? '').slice(REPLAY_PREFIX.length);
    const conversation = await this.s.store.get(publicId);
    if (conversation === null) throw new SipError(404, 'No such stored conversation');
    if (conversation.owner !== sender.aor) throw new SipError(403, 'Only the owner can replay a stored conversation');
    const offer = readOffer(req);
    if (offer.direction === 'sendonly' || offer.direction === 'inactive') throw new SipError(488, 'A replay sends messages: the offer must be able to receive');
    if (!offer.acceptTypes.some((t) => t === '*' || t.toLowerCase() === 'message/cpim')) throw new SipError(488, 'A replay sends message/cpim: the offer does not accept it');
    if (tx.finished) return;
    const { stack, endpoint } = this.s;
    const leg = endpoint.create(legTransport(tx.source.transport, offer.protocol));
    leg.remotePath = offer.path;
    const tag = stack.newId();
    const contact = ownContact(stack, tx.source.transport, `h-${tag}`);
    const ours = answerFor(leg, offer, ['message/cpim'], [], this.opts.maxMessageBytes, endpoint, 'sendonly');
    const replay: Replay = { dialog: callerDialog(req, tx, tag, contact), sdp: ours.sdp, leg, ended: false };
    const key = `${req.callId}|${tag}`;
    this.replays.set(key, replay);
    const bound = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.opts.bindTimeoutMs);
      leg.onBound = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    let acked!: () => void;
    const ack = new Promise<void>((resolve) => (acked = resolve));
    stack.reply(tx, 200, 'OK', {
      toTag: tag,
      headers: { Contact: contact },
      body: Buffer.from(ours.sdp),
      contentType: 'application/sdp',
      onAck: acked,
      onAckTimeout: () => this.finish(key, 'No ACK for the 200 OK', 408),
    });
    if (ours.setup === 'active') {
      endpoint.connect(leg).catch((err: unknown) => this.s.log.info({ err }, 'MSRP connection for a replay failed'));
    }
    void this.run(key, replay, conversation, bound, ack);
  };

  /** BYE from the client: the replay stops where it is. */
  readonly handleBye = (req: SipRequest, tx: ServerTransaction): void => {
    const key = `${req.callId}|${req.toTag ?? ''}`;
    const replay = this.replays.get(key);
    if (replay === undefined) throw new SipError(481, 'Call/Transaction Does Not Exist');
    this.s.stack.reply(tx, 200, 'OK');
    replay.ended = true;
    this.forget(key);
  };

  private async run(key: string, replay: Replay, conversation: NonNullable<Awaited<ReturnType<ConversationStore['get']>>>, bound: Promise<boolean>, ack: Promise<void>): Promise<void> {
    try {
      if (!(await bound)) return this.finish(key, 'No MSRP connection', 408);
      for (let after = 0; !replay.ended; ) {
        const page = await this.s.store.messages(conversation, after, this.opts.pageSize);
        if (page.length === 0) break;
        // written in order (MsrpSession sends in call order); a page's 200s are awaited before the next page is read
        const outcomes = await Promise.all(page.map((m) => replay.leg.send('message/cpim', replayCpim(m))));
        const failed = outcomes.find((o) => o.status !== 200);
        if (failed !== undefined) return this.finish(key, `MSRP ${failed.status} ${failed.comment}`, 480);
        after = page[page.length - 1].id;
      }
      await ack;
      this.finish(key);
    } catch (err) {
      this.s.log.warn({ err }, 'replaying a stored conversation failed');
      this.finish(key, 'Replay failed', 500);
    }
  }

  /** Ends a replay from our side: BYE (with a Reason when it did not complete) and the MSRP leg closed. */
  private finish(key: string, reason?: string, cause?: number): void {
    const replay = this.replays.get(key);
    if (replay === undefined || replay.ended) return;
    replay.ended = true;
    sendBye(this.s.stack, replay.dialog, reason, cause);
    this.forget(key);
  }

  private forget(key: string): void {
    const replay = this.replays.get(key);
    if (replay === undefined) return;
    this.replays.delete(key);
    replay.leg.close();
  }

  /** Ends every replay (shutdown). */
  close(): void {
    for (const key of [...this.replays.keys()]) this.finish(key, 'Server shutting down', 503);
  }
}

