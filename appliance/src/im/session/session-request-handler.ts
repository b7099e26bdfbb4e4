import type { SipRequest, SipResponse } from '../../sip/message/message.js';
import type { Dialog } from '../../sip/dialog/dialog.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import type { SipStack } from '../../sip/stack.js';
import { SipError } from '../../sip/errors.js';
import { mediaTypeOf } from '../../sip/message/media-type.js';
import type { Authenticator } from '../../core/authenticator.js';
import { authenticateSip } from '../../core/sip-authentication.js';
import { checkRequire } from '../../core/extensions.js';
import { userOfUriPart } from '../../core/user-names.js';
import type { UserDirectory } from '../../core/user-directory.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { LocationService } from '../../core/location-service.js';
import { branchesFor, type Branch } from '../../core/forker.js';
import type { OriginatingPolicy, SenderIdentity } from '../participating/originating-policy.js';
import type { TerminatingPolicy } from '../participating/terminating-policy.js';
import { refusalReason, type DeferredStore } from '../deferred/deferred-store.js';
import type { DeferredDelivery } from '../deferred/deferred-delivery.js';
import type { Logger } from '../../log.js';
import type { MsrpEndpoint } from '../../msrp/msrp-endpoint.js';
import type { MsrpSession, ReceivedMessage } from '../../msrp/msrp-session.js';
import { readMsrpMedia, SdpError, type MsrpMedia } from '../../msrp/msrp-sdp.js';
import { InviteFork } from './invite-fork.js';
import { MsrpSwitch } from './msrp-switch.js';
import { OneToOneSession, type Side } from './one-to-one-session.js';
import type { SessionHistory } from './session-history.js';
import { acknowledge, callerDialog, ownContact, sendBye } from './call-legs.js';
import { answerFor, calleeInvite, legTransport, offerFor, withSetup } from './session-sdp.js';
import { answerInDialogOffer } from './in-dialog-offer.js';
import type { ProfilePolicy } from '../participating/profile-policy.js';
import type { SessionCapture } from '../../history/session-capture.js';
import type { PagerCapture } from '../../history/pager-capture.js';
import { STORE_HEADER, refusedAnswer, storeRequest, storedAnswer, UNAVAILABLE } from '../../history/store-header.js';

export interface SessionHandlerOptions {
  /** "switch": both MSRP legs end here; "passthrough": the SDP goes through untouched (S7) */
  media: 'switch' | 'passthrough';
  ringTimeoutMs: number;
  /** our a=max-size */
  maxMessageBytes: number;
  /** how long a message waits for the far leg's connection before it is stored */
  bindTimeoutMs: number;
}

export interface SessionServices {
  stack: SipStack;
  domain: LocalDomain;
  auth: Authenticator;
  users: UserDirectory;
  originating: OriginatingPolicy;
  terminating: TerminatingPolicy;
  location: LocationService;
  endpoint: MsrpEndpoint;
  store: DeferredStore;
  delivery: DeferredDelivery;
  history: SessionHistory;
  log: Logger;
  /** the users' service profiles (Y1, Y3): IM allowed, the MSRP legs' sizes and types */
  profiles?: ProfilePolicy;
  /** conversation storage (H1): sessions a side asked to store, or stores everything */
  capture?: SessionCapture;
  /** conversation storage of pager messages (H1): a large message stored for later is one (P4) */
  pagerCapture?: PagerCapture;
}

/**
 * Session-mode IM between two of our users (S1) and large message mode (P4): the router's INVITE
 * and BYE handlers. An INVITE goes through the same participating functions as a MESSAGE
 * (authentication, originating policy, the callee's block list and delivery preference); then we
 * act as a B2BUA (RFC 3261 §16 is not enough: both MSRP legs end here, RFC 4975 §5.4) and fork a
 * new INVITE to the callee's devices. A large message (OMA IM: an a=sendonly offer) for a callee
 * who cannot take it now is received here and stored like a pager message (P2).
 */
export class SessionRequestHandler {
  /** live sessions by Call-ID and our tag in that dialog, for both legs */
  private readonly table = new Map<string, { session: OneToOneSession; side: Side }>();
  /** a complete MSRP message was taken from one leg to switch to the other (metrics) */
  onMessageSwitched: (() => void) | null = null;

  constructor(
    private readonly s: SessionServices,
    private readonly opts: SessionHandlerOptions,
  ) {}

  /** live sessions per SIP flow (connection), so that an idle connection carrying one stays open */
  private readonly perFlow = new Map<string, number>();
  private readonly flowsOf = new Map<OneToOneSession, string[]>();

  /** Whether a session's dialog runs over this flow (RFC 5626 §5: the connection stays while in use). */
  usesFlow(flowId: string): boolean {
    return this.perFlow.has(flowId);
  }

  private countFlow(session: OneToOneSession, flowId: string | undefined): void {
    if (flowId === undefined) return;
    this.perFlow.set(flowId, (this.perFlow.get(flowId) ?? 0) + 1);
    this.flowsOf.set(session, [...(this.flowsOf.get(session) ?? []), flowId]);
  }

  get size(): number {
    return new Set([...this.table.values()].map((e) => e.session)).size;
  }

  /** callee dialogs still ringing (Call-ID and our tag): our INVITE's offer is unanswered there */
  private readonly ringing = new Set<string>();

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
    const offer = this.readOffer(req);
    const largeMessage = offer.direction === 'sendonly';
    // the callee's block list (Y2): 403 for block; a polite block looks like an absent callee
    const verdict = await terminating.check(recipient.username, sender.aor);
    const { delivery } = await terminating.preferences(recipient.username);
    const calleeAor = domain.aor(recipient.username);
    const bindings = verdict === 'discard' || delivery === 'store' ? [] : location.lookup(calleeAor);
    const tag = stack.newId();
    const contact = ownContact(stack, tx.source.transport, `s-${tag}`);
    const session = new OneToOneSession(largeMessage ? 'large-message' : 'one-to-one', sender.aor, calleeAor, callerDialog(req, tx, tag, contact), Date.now(), stack, this.s.history, this.s.log, (gone) => this.forget(gone));
    this.table.set(`${req.callId}|${tag}`, { session, side: 'caller' });
    try {
      await this.connect(req, tx, session, sender, recipient.username, offer, bindings, verdict === 'discard', tag, contact);
    } finally {
      // refused, cancelled or failed: no dialog was made, nothing to keep
      if (session.answeredAt === 0) this.forget(session);
    }
  };

  /**
   * A re-INVITE (RFC 3261 §14.2) or an UPDATE (RFC 3311) in one of our dialogs: a session refresh
   * or re-offer is answered from what the dialog negotiated (in-dialog-offer.ts). An UPDATE with
   * an offer from a callee whose device is still ringing crosses our INVITE's offer: 491.
   */
  readonly handleInDialog = (req: SipRequest, tx: ServerTransaction): void => {
    const key = `${req.callId}|${req.toTag ?? ''}`;
    const entry = this.table.get(key);
    if (entry === undefined) {
      if (req.method === 'UPDATE' && this.ringing.has(key)) {
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

  readonly handleBye = (req: SipRequest, tx: ServerTransaction): void => {
    const entry = this.table.get(`${req.callId}|${req.toTag ?? ''}`);
    if (entry === undefined) throw new SipError(481, 'Call/Transaction Does Not Exist');
    this.s.stack.reply(tx, 200, 'OK');
    entry.session.end(entry.side, `bye-${entry.side}`);
  };

  private readOffer(req: SipRequest): MsrpMedia {
    if (req.body.length === 0) throw new SipError(488, 'An SDP offer with an MSRP media line is required');
    const type = mediaTypeOf(req.headers.get('content-type') ?? '');
    // RFC 3261 §21.4.13: a body we cannot read is a 415 with what we accept
    if (type !== 'application/sdp') throw new SipError(415, 'Unsupported Media Type', { Accept: 'application/sdp' });
    try {
      return readMsrpMedia(req.body.toString('utf8'));
    } catch (err) {
      if (err instanceof SdpError) throw new SipError(488, err.reason);
      throw err;
    }
  }

  private async connect(
    req: SipRequest,
    tx: ServerTransaction,
    session: OneToOneSession,
    sender: SenderIdentity,
    callee: string,
    offer: MsrpMedia,
    bindings: ReturnType<LocationService['lookup']>,
    discard: boolean,
    tag: string,
    contact: string,
  ): Promise<void> {
    const { stack, endpoint } = this.s;
    const passthrough = this.opts.media === 'passthrough' && session.kind === 'one-to-one';
    // Y3: what both users' profiles take is what our SDP offers and answers (a=accept-types, a=max-size)
    const users = [sender.username, callee];
    const limits = this.limitsOf(users);
    const callerOffer = limits.narrow(offer);
    // RFC 4975 §8.6: an MSRP media line needs accept-types; none left means nothing may be exchanged
    // (in passthrough too: the clients' SDP goes on narrowed, ProfilePolicy.passedOnSdp)
    if (callerOffer.acceptTypes.length === 0) throw new SipError(488, 'No content type both users may exchange');
    if (bindings.length === 0) {
      if (session.kind === 'large-message') return this.acceptForStorage(req, tx, session, sender, callee, offer, discard, tag, contact);
      throw new SipError(480, 'Recipient is not available');
    }
    // one MSRP leg towards the callee per transport its devices use (each branch's SDP names its own)
    const calleeLegs = new Map<string, MsrpSession>();
    const callId = `${stack.newId()}@${stack.advertisedHost.replace(/^\[|\]$/g, '')}`;
    const fromTag = stack.newId();
    const calleeContact = (t: Branch['destination']['transport']): string => ownContact(stack, t, `s-${fromTag}`);
    const branches = branchesFor(bindings, (b) => {
      const kind = legTransport(b.transport);
      let leg = calleeLegs.get(kind);
      if (leg === undefined && !passthrough) {
        leg = endpoint.create(kind);
        calleeLegs.set(kind, leg);
      }
      const body = passthrough ? this.s.profiles?.passedOnSdp(req.body, offer, users) ?? req.body : Buffer.from(offerFor(leg!, callerOffer, limits.maxMessageBytes, endpoint));
      return calleeInvite(req, b, sender, callId, fromTag, calleeContact(b.transport as Branch['destination']['transport']), body);
    });
    const closeLegs = (keep?: MsrpSession): void => {
      for (const l of calleeLegs.values()) if (l !== keep) l.close();
    };
    const fork = new InviteFork(
      stack,
      (res) => stack.reply(tx, res.status === 183 ? 183 : 180, res.status === 183 ? 'Session Progress' : 'Ringing', { toTag: tag, headers: { Contact: contact } }),
      (res, branch, bye) => {
        const dialog = acknowledge(stack, branch.request, res, branch.destination);
        if (bye) sendBye(stack, dialog);
      },
    );
    // a CANCEL that came while the policies were read has already been answered 487 by the stack
    if (tx.finished) {
      closeLegs();
      return;
    }
    tx.onCancel = () => fork.cancel('caller');
    const early = `${callId}|${fromTag}`;
    this.ringing.add(early);
    const outcome = await fork.run(branches, this.opts.ringTimeoutMs).finally(() => this.ringing.delete(early));
    if (outcome.answered === undefined) {
      closeLegs();
      // RFC 3261 §9.2: the caller's CANCEL ends its INVITE with 487
      if (outcome.cancelled === 'caller') {
        stack.reply(tx, 487, 'Request Terminated', { toTag: tag });
        return;
      }
      if (outcome.cancelled === 'timeout') throw new SipError(480, 'No answer');
      if (session.kind === 'large-message' && outcome.unavailable) return this.acceptForStorage(req, tx, session, sender, callee, offer, false, tag, contact);
      if (outcome.best === null || outcome.unavailable) throw new SipError(480, 'Recipient is not available');
      throw new SipError(outcome.best.status, outcome.best.reason);
    }
    const { answered: res, branch } = outcome;
    // H1: the caller asks on its INVITE, the callee on its 2xx (store-header.ts); we answer in our 2xx and our ACK
    const asked = { caller: storeRequest(req.headers) === 'on', callee: storeRequest(res.headers) === 'on' };
    if (passthrough) {
      // whoever expects the session stored (asked, or stores everything) is told it cannot be
      const wants = { caller: this.s.capture?.wants(sender.aor, asked.caller) ?? asked.caller, callee: this.s.capture?.wants(session.calleeAor, asked.callee) ?? asked.callee };
      const calleeDlg = acknowledge(stack, branch.request, res, branch.destination, wants.callee ? { [STORE_HEADER]: UNAVAILABLE } : {});
      session.callee = calleeDlg;
      this.table.set(`${branch.request.callId}|${fromTag}`, { session, side: 'callee' });
      closeLegs();
      const answer = this.usableAnswer(res, limits, calleeDlg, session);
      // the server is not in the media: re-offers cannot be answered here (null), refreshes can
      session.callerMedia = { local: null, remotePath: '' };
      session.calleeMedia = { local: null, remotePath: '' };
      // the MSRP goes end to end: we never see the messages, and say so to whoever asked
      this.answer(tx, session, tag, contact, this.s.profiles?.passedOnSdp(res.body, answer, users) ?? res.body, res.headers.get('content-type') ?? 'application/sdp', 'OK', wants.caller ? { [STORE_HEADER]: UNAVAILABLE } : {});
      return;
    }
    const recording =
      this.s.capture?.begin({ aor: sender.aor, callId: req.callId, asked: asked.caller }, { aor: session.calleeAor, callId: branch.request.callId, asked: asked.callee }) ?? null;
    const calleeId = recording?.publicIds.callee ?? null;
    const calleeRefused = recording?.refused.callee ?? null;
    const calleeStore = calleeId !== null ? storedAnswer(calleeId) : calleeRefused !== null ? refusedAnswer(calleeRefused) : null;
    const calleeDlg = acknowledge(stack, branch.request, res, branch.destination, calleeStore === null ? {} : { [STORE_HEADER]: calleeStore });
    session.callee = calleeDlg;
    session.recording = recording;
    this.table.set(`${branch.request.callId}|${fromTag}`, { session, side: 'callee' });
    let answer: MsrpMedia;
    try {
      answer = this.usableAnswer(res, limits, calleeDlg, session);
    } catch (err) {
      closeLegs();
      throw err;
    }
    const calleeLeg = calleeLegs.get(legTransport(branch.destination.transport))!;
    closeLegs(calleeLeg);
    calleeLeg.remotePath = answer.path;
    const callerLeg = endpoint.create(legTransport(tx.source.transport, offer.protocol));
    callerLeg.remotePath = offer.path;
    session.switch = new MsrpSwitch(
      callerLeg,
      calleeLeg,
      async (m, to) => {
        await this.storeAbsent(session, m, to, sender, callee);
      },
      this.opts.bindTimeoutMs,
      (side) => this.legLost(session, side),
    );
    session.switch.onSwitched = () => this.onMessageSwitched?.();
    if (recording !== null) session.switch.onComplete = (m, from) => recording.message(from, m.contentType, m.body);
    const calleeAnswer = limits.narrow(answer);
    callerLeg.policy = calleeLeg.policy = limits.policy;
    const ours = answerFor(callerLeg, offer, calleeAnswer.acceptTypes, calleeAnswer.acceptWrappedTypes, limits.maxMessageBytes, endpoint);
    session.callerMedia = { local: ours.sdp, remotePath: offer.path };
    session.calleeMedia = { local: withSetup(branch.request.body.toString('utf8'), answer.setup), remotePath: answer.path };
    // the 2xx names the caller's conversation only once it is written (the claim must be true)
    const callerRow = recording?.publicIds.caller == null ? null : (await recording.ready).caller;
    if (tx.finished) {
      session.end('server', 'cancelled');
      return;
    }
    const callerRefused = recording?.refused.caller ?? null;
    const callerStore = callerRow !== null ? storedAnswer(callerRow.publicId) : callerRefused !== null ? refusedAnswer(callerRefused) : null;
    this.answer(tx, session, tag, contact, Buffer.from(ours.sdp), 'application/sdp', 'OK', callerStore === null ? {} : { [STORE_HEADER]: callerStore });
    // RFC 6135: where the peer waits for us (a=setup:passive), we connect
    if (answer.setup === 'passive') this.activeConnect(session, calleeLeg);
    if (ours.setup === 'active') this.activeConnect(session, callerLeg);
  }

  /**
   * The callee's SDP answer, when it leaves something both users may exchange; else the callee's
   * dialog ends (BYE) and the caller gets 488 with the reason (RFC 3264 §6, RFC 4975 §8.6).
   */
  private usableAnswer(res: SipResponse, limits: { narrow: (m: MsrpMedia) => MsrpMedia }, calleeDlg: Dialog, session: OneToOneSession): MsrpMedia {
    try {
      const answer = readMsrpMedia(res.body.toString('utf8'));
      if (limits.narrow(answer).acceptTypes.length === 0) throw new SdpError('no content type both users may exchange');
      return answer;
    } catch (err) {
      sendBye(this.s.stack, calleeDlg, 'Unusable SDP answer');
      session.callee = null;
      throw new SipError(488, err instanceof SdpError ? `Callee's answer: ${err.reason}` : 'Callee answer unreadable');
    }
  }

  /** The MSRP limits of a session between these users: our max-size and their profiles (Y3). */
  private limitsOf(users: string[]): { maxMessageBytes: number; narrow: (m: MsrpMedia) => MsrpMedia; policy: MsrpSession['policy'] } {
    const profiles = this.s.profiles;
    if (profiles === undefined) return { maxMessageBytes: this.opts.maxMessageBytes, narrow: (m) => m, policy: null };
    return {
      maxMessageBytes: profiles.maxBytes(users, this.opts.maxMessageBytes),
      narrow: (m) => profiles.narrowMedia(m, users, this.opts.maxMessageBytes).media,
      policy: profiles.msrpPolicy(users),
    };
  }

  private answer(tx: ServerTransaction, session: OneToOneSession, tag: string, contact: string, body: Buffer, type: string, reason = 'OK', headers: Record<string, string> = {}): void {
    session.answeredAt = Date.now();
    this.countFlow(session, session.caller.state.destination.flowId);
    this.countFlow(session, session.callee?.state.destination.flowId);
    // RFC 3261 §13.3.1.4: the 200 is resent until the caller's ACK; without one the session ends
    const onAckTimeout = (): void => session.end('server', 'no-ack', { text: 'No ACK for the 200 OK', cause: 408 });
    this.s.stack.reply(tx, 200, reason, { toTag: tag, headers: { Contact: contact, ...headers }, body, contentType: type, onAckTimeout });
  }

  private activeConnect(session: OneToOneSession, leg: MsrpSession): void {
    this.s.endpoint.connect(leg).then(
      (status) => {
        if (status !== 200) session.end('server', `msrp-connect-${status}`);
      },
      (err: unknown) => {
        this.s.log.info({ err }, 'MSRP connection to a peer failed');
        session.end('server', 'msrp-connect-failed');
      },
    );
  }

  /**
   * P4: a large message for a callee who cannot take it now is received here (one recvonly MSRP
   * leg) and stored like a pager message. The 200 says so in its reason phrase. A polite block
   * looks the same to the sender, and the message goes nowhere. Once stored for the callee it is
   * a pager message for conversation storage too (H1): into the sender's conversation with the
   * callee (asked on the INVITE, recording, or storing everything) and the callee's with her; the
   * 200 answers a sender who asked as for a session (store-header.ts).
   */
  private async acceptForStorage(
    req: SipRequest,
    tx: ServerTransaction,
    session: OneToOneSession,
    sender: SenderIdentity,
    callee: string,
    offer: MsrpMedia,
    discard: boolean,
    tag: string,
    contact: string,
  ): Promise<void> {
    // Y1: storing is the only way to this callee now, and their profile allows none
    if (!discard && this.s.profiles !== undefined && !this.s.profiles.of(callee).storage) throw new SipError(480, refusalReason('profile'));
    const limits = this.limitsOf([sender.username, callee]);
    const any = limits.narrow({ ...offer, acceptTypes: ['*'], acceptWrappedTypes: [] });
    if (any.acceptTypes.length === 0) throw new SipError(488, 'No content type both users may exchange');
    const leg = this.s.endpoint.create(legTransport(tx.source.transport, offer.protocol));
    leg.remotePath = offer.path;
    session.loneLeg = leg;
    leg.onDisconnect = () => this.legLost(session, 'caller');
    const asked = storeRequest(req.headers) === 'on';
    const calleeAor = this.s.domain.aor(callee);
    leg.onMessage = (m) => {
      session.storedMessages++;
      session.storedBytes += m.body.length;
      if (discard) return;
      void this.storeAbsent(session, m, 'callee', sender, callee).then((stored) => {
        if (stored) void this.s.pagerCapture?.largeMessage(sender.aor, calleeAor, asked, m.contentType, Buffer.from(m.body));
      });
    };
    leg.policy = limits.policy;
    const ours = answerFor(leg, offer, any.acceptTypes, any.acceptWrappedTypes, limits.maxMessageBytes, this.s.endpoint, 'recvonly');
    session.callerMedia = { local: ours.sdp, remotePath: offer.path };
    // a polite block answers as a store would, conversation included (nothing reveals the block)
    const conversation = asked && this.s.pagerCapture !== undefined ? await this.storeAnswer(sender.aor, calleeAor) : null;
    if (tx.finished) {
      leg.close();
      return;
    }
    this.answer(tx, session, tag, contact, Buffer.from(ours.sdp), 'application/sdp', 'Stored for later delivery', conversation === null ? {} : { [STORE_HEADER]: conversation });
    if (ours.setup === 'active') this.activeConnect(session, leg);
  }

  /**
   * A leg's MSRP connection closed without a BYE: the session is over for both sides, each told by
   * a BYE whose Reason (RFC 3326) says why, and its history row is written.
   */
  private legLost(session: OneToOneSession, side: Side): void {
    this.s.log.info({ caller: session.callerAor, callee: session.calleeAor, side }, 'MSRP connection of a session leg lost');
    session.end('server', `msrp-lost-${side}`, { text: 'MSRP connection lost', cause: 480 });
  }

  /** The Conversation-Store answer to a large message's sender who asked: her conversation with the callee, or why not. */
  private async storeAnswer(senderAor: string, calleeAor: string): Promise<string | null> {
    try {
      const c = await this.s.pagerCapture!.conversationFor(senderAor, calleeAor);
      return 'refused' in c ? refusedAnswer(c.refused) : storedAnswer(c.publicId);
    } catch (err) {
      this.s.log.warn({ err, owner: senderAor }, 'large message conversation not started');
      return null;
    }
  }

  /** S8: a message for a leg that is gone is stored for that user, as a pager message would be (P2); resolves whether it was. */
  private async storeAbsent(session: OneToOneSession, m: ReceivedMessage, to: Side, sender: SenderIdentity, callee: string): Promise<boolean> {
    const toCallee = to === 'callee';
    const recipient = toCallee ? callee : sender.username;
    const fromAor = toCallee ? sender.aor : session.calleeAor;
    const result = await this.s.store.add({
      recipient,
      fromHeader: toCallee ? sender.from.replace(/;tag=[^;]*/i, '') : `<${fromAor}>`,
      senderAor: fromAor,
      contentType: m.contentType,
      body: Buffer.from(m.body),
      receivedAt: Date.now(),
    });
    if (!result.stored) {
      m.report(480, refusalReason(result.refusal));
      return false;
    }
    if (this.s.location.lookup(this.s.domain.aor(recipient)).length > 0) this.s.delivery.scheduleRetry(recipient, 1);
    return true;
  }

  private forget(session: OneToOneSession): void {
    for (const [k, v] of this.table) if (v.session === session) this.table.delete(k);
    for (const f of this.flowsOf.get(session) ?? []) {
      const n = (this.perFlow.get(f) ?? 1) - 1;
      if (n > 0) this.perFlow.set(f, n);
      else this.perFlow.delete(f);
    }
    this.flowsOf.delete(session);
  }

  /** Ends every session (shutdown). */
  close(): void {
    for (const { session } of [...this.table.values()]) session.end('server', 'shutdown');
  }
}
