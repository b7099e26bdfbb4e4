import type { SipRequest } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import { SipError } from '../../sip/errors.js';
import { authenticateSip } from '../../core/sip-authentication.js';
import { checkRequire } from '../../core/extensions.js';
import { userOfUriPart } from '../../core/user-names.js';
import { OneToOneSession } from './one-to-one-session.js';
import { callerDialog, ownContact } from './call-legs.js';
import { answerInDialogOffer } from './in-dialog-offer.js';
import { connectToCallee } from './b2bua-connect.js';
import { readOffer } from './session-sdp.js';
import { SessionTable } from './session-table.js';
import type { SessionContext, SessionHandlerOptions, SessionServices } from './session-types.js';

/**
 * Session-mode IM between two of our users (S1) and large message mode (P4): the router's INVITE,
 * UPDATE and BYE handlers. An INVITE goes through the same participating functions as a MESSAGE
 * (authentication, originating policy, the callee's block list and delivery preference); then we
 * act as a B2BUA (RFC 3261 §16 is not enough: both MSRP legs end here, RFC 4975 §5.4) and fork a
 * new INVITE to the callee's devices (b2bua-connect.ts). A large message (OMA IM: an a=sendonly
 * offer) for a callee who cannot take it now is received here and stored like a pager message
 * (P2, absent-recipient-storage.ts).
 */
export class SessionRequestHandler {
  private readonly table = new SessionTable();
  private readonly ctx: SessionContext;
  /** a complete MSRP message was taken from one leg to switch to the other (metrics) */
  onMessageSwitched: (() => void) | null = null;

  constructor(
    private readonly s: SessionServices,
    opts: SessionHandlerOptions,
  ) {
    this.ctx = { s, opts, table: this.table, switched: () => this.onMessageSwitched?.() };
  }

  /** Whether a session's dialog runs over this flow (RFC 5626 §5: the connection stays while in use). */
  usesFlow(flowId: string): boolean {
    return this.table.usesFlow(flowId);
  }

  /** How many sessions are live. */
  get size(): number {
    return this.table.size;
  }

  readonly handleInvite = async (req: SipRequest, tx: ServerTransaction): Promise<void> => {
    if (req.toTag !== undefined) return this.handleInDialog(req, tx);
    const { stack, domain, users, originating, terminating, location } = this.s;
    const sender = originating.identify(req, authenticateSip(this.s.auth, req, tx.source, false));
    // Y1: a session is instant messaging, for both ends (profile-policy.ts: 403 either way)
    this.s.profiles?.requireIm(sender.username, 'sender');
    const part = req.sipUri?.user ?? null;
    const name = part === null ? null : userOfUriPart(part);
    const recipient = name === null ? undefined : users.get(name);
    if (recipient === undefined) throw new SipError(404, 'Not Found');
    if (recipient.disabled) throw new SipError(480, 'Recipient is not available');
    this.s.profiles?.requireIm(recipient.username, 'recipient');
    checkRequire(req);
    const offer = readOffer(req);
    const largeMessage = offer.direction === 'sendonly';
    // the callee's block list (Y2): 403 for block; a polite block looks like an absent callee
    const verdict = await terminating.check(recipient.username, sender.aor);
    const { delivery } = await terminating.preferences(recipient.username);
    const calleeAor = domain.aor(recipient.username);
    const bindings = verdict === 'discard' || delivery === 'store' ? [] : location.lookup(calleeAor);
    const tag = stack.newId();
    const contact = ownContact(stack, tx.source.transport, `s-${tag}`);
    const session = new OneToOneSession(largeMessage ? 'large-message' : 'one-to-one', sender.aor, calleeAor, callerDialog(req, tx, tag, contact), Date.now(), stack, this.s.history, this.s.log, (gone) => this.table.forget(gone));
    this.table.add(req.callId, tag, session, 'caller');
    try {
      await connectToCallee(this.ctx, { req, tx, session, sender, callee: recipient.username, offer, tag, contact }, bindings, verdict === 'discard');
    } finally {
      // refused, cancelled or failed: no dialog was made, nothing to keep
      if (session.answeredAt === 0) this.table.forget(session);
    }
  };

  /**
   * A re-INVITE (RFC 3261 §14.2) or an UPDATE (RFC 3311) in one of our dialogs: a session refresh
   * or re-offer is answered from what the dialog negotiated (in-dialog-offer.ts). An UPDATE with
   * an offer from a callee whose device is still ringing crosses our INVITE's offer: 491.
   */
  readonly handleInDialog = (req: SipRequest, tx: ServerTransaction): void => {
    const entry = this.table.find(req.callId, req.toTag);
    if (entry === undefined) {
      if (req.method === 'UPDATE' && this.table.isRinging(req.callId, req.toTag)) {
        answerInDialogOffer(req, null, null, 'ours');
        this.s.stack.reply(tx, 200, 'OK', { headers: { Contact: ownContact(this.s.stack, tx.source.transport, `s-${req.toTag ?? ''}`) } });
        return;
      }
      throw new SipError(481, 'Call/Transaction Does Not Exist');
    }
    const { session, side } = entry;
    const dialog = side === 'caller' ? session.caller : session.callee;
    // the caller's early dialog (our 180 carried our tag): its INVITE's offer still waits for our answer
    const theirs = side === 'caller' && session.answeredAt === 0 ? 'theirs' : null;
    const sdp = answerInDialogOffer(req, dialog, side === 'caller' ? session.callerMedia : session.calleeMedia, theirs);
    const body = sdp === null ? {} : { body: sdp, contentType: 'application/sdp' };
    const contact = dialog?.state.localContact ?? '';
    const onAckTimeout = req.method === 'INVITE' ? (): void => session.end('server', 'no-ack', { text: 'No ACK for the 200 OK', cause: 408 }) : undefined;
    this.s.stack.reply(tx, 200, 'OK', { headers: { Contact: contact }, ...body, onAckTimeout });
  };

  /** A BYE in one of our dialogs (RFC 3261 §15.1.2): 200, and the session ends for both sides. */
  readonly handleBye = (req: SipRequest, tx: ServerTransaction): void => {
    const entry = this.table.find(req.callId, req.toTag);
    if (entry === undefined) throw new SipError(481, 'Call/Transaction Does Not Exist');
    this.s.stack.reply(tx, 200, 'OK');
    entry.session.end(entry.side, `bye-${entry.side}`);
  };

  /** Ends every session (shutdown). */
  close(): void {
    for (const { session } of this.table.all()) session.end('server', 'shutdown');
  }
}

