import { SipError } from '../../sip/errors.js';
import type { LocationService } from '../../core/location-service.js';
import { branchesFor, type Branch } from '../../core/forker.js';
import type { MsrpSession } from '../../msrp/msrp-session.js';
import type { MsrpMedia } from '../../msrp/msrp-sdp.js';
import { STORE_HEADER, refusedAnswer, storeRequest, storedAnswer, UNAVAILABLE } from '../../history/store-header.js';
import { InviteFork } from './invite-fork.js';
import { MsrpSwitch } from './msrp-switch.js';
import { acknowledge, ownContact, sendBye } from './call-legs.js';
import { answerFor, calleeInvite, legTransport, offerFor, withSetup } from './session-sdp.js';
import { limitsOf, usableAnswer } from './session-limits.js';
import { activeConnect, answerCaller, legLost } from './session-answer.js';
import { acceptForStorage, storeAbsent } from './absent-recipient-storage.js';
import type { InviteSetup, SessionContext } from './session-types.js';

/**
 * The B2BUA half of a new session (S1): a new INVITE with our offer to every device of the callee
 * (one MSRP leg towards the callee per transport its devices use), 180/183 relayed, and on the
 * first 2xx either the MSRP switch between two legs of ours or, in pass-through (S7), the
 * callee's SDP handed to the caller. No device (or, for a large message, none that can take it):
 * the message is stored (P4), else 480. `discard`: a polite block, nothing reaches the callee.
 */
export async function connectToCallee(ctx: SessionContext, inv: InviteSetup, bindings: ReturnType<LocationService['lookup']>, discard: boolean): Promise<void> {
  const { s, opts, table } = ctx;
  const { stack, endpoint } = s;
  const { req, tx, session, sender, callee, offer, tag, contact } = inv;
  const passthrough = opts.media === 'passthrough' && session.kind === 'one-to-one';
  // Y3: what both users' profiles take is what our SDP offers and answers (a=accept-types, a=max-size)
  const users = [sender.username, callee];
  const limits = limitsOf(s.profiles, opts.maxMessageBytes, users);
  const callerOffer = limits.narrow(offer);
  // RFC 4975 §8.6: an MSRP media line needs accept-types; none left means nothing may be exchanged
  // (in passthrough too: the clients' SDP goes on narrowed, ProfilePolicy.passedOnSdp)
  if (callerOffer.acceptTypes.length === 0) throw new SipError(488, 'No content type both users may exchange');
  if (bindings.length === 0) {
    if (session.kind === 'large-message') return acceptForStorage(ctx, inv, discard);
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
    const body = passthrough ? s.profiles?.passedOnSdp(req.body, offer, users) ?? req.body : Buffer.from(offerFor(leg!, callerOffer, limits.maxMessageBytes, endpoint));
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
  const rung = table.ring(callId, fromTag);
  const outcome = await fork.run(branches, opts.ringTimeoutMs).finally(rung);
  if (outcome.answered === undefined) {
    closeLegs();
    // RFC 3261 §9.2: the caller's CANCEL ends its INVITE with 487
    if (outcome.cancelled === 'caller') {
      stack.reply(tx, 487, 'Request Terminated', { toTag: tag });
      return;
    }
    if (outcome.cancelled === 'timeout') throw new SipError(480, 'No answer');
    if (session.kind === 'large-message' && outcome.unavailable) return acceptForStorage(ctx, inv, false);
    if (outcome.best === null || outcome.unavailable) throw new SipError(480, 'Recipient is not available');
    throw new SipError(outcome.best.status, outcome.best.reason);
  }
  const { answered: res, branch } = outcome;
  // H1: the caller asks on its INVITE, the callee on its 2xx (store-header.ts); we answer in our 2xx and our ACK
  const asked = { caller: storeRequest(req.headers) === 'on', callee: storeRequest(res.headers) === 'on' };
  if (passthrough) {
    // whoever expects the session stored (asked, or stores everything) is told it cannot be
    const wants = { caller: s.capture?.wants(sender.aor, asked.caller) ?? asked.caller, callee: s.capture?.wants(session.calleeAor, asked.callee) ?? asked.callee };
    const calleeDlg = acknowledge(stack, branch.request, res, branch.destination, wants.callee ? { [STORE_HEADER]: UNAVAILABLE } : {});
    session.callee = calleeDlg;
    table.add(branch.request.callId, fromTag, session, 'callee');
    closeLegs();
    const answer = usableAnswer(stack, res, limits, calleeDlg, session);
    // the server is not in the media: re-offers cannot be answered here (null), refreshes can
    session.callerMedia = { local: null, remotePath: '' };
    session.calleeMedia = { local: null, remotePath: '' };
    // the MSRP goes end to end: we never see the messages, and say so to whoever asked
    answerCaller(ctx, inv, s.profiles?.passedOnSdp(res.body, answer, users) ?? res.body, res.headers.get('content-type') ?? 'application/sdp', 'OK', wants.caller ? { [STORE_HEADER]: UNAVAILABLE } : {});
    return;
  }
  const recording =
    s.capture?.begin({ aor: sender.aor, callId: req.callId, asked: asked.caller }, { aor: session.calleeAor, callId: branch.request.callId, asked: asked.callee }) ?? null;
  const calleeId = recording?.publicIds.callee ?? null;
  const calleeRefused = recording?.refused.callee ?? null;
  const calleeStore = calleeId !== null ? storedAnswer(calleeId) : calleeRefused !== null ? refusedAnswer(calleeRefused) : null;
  const calleeDlg = acknowledge(stack, branch.request, res, branch.destination, calleeStore === null ? {} : { [STORE_HEADER]: calleeStore });
  session.callee = calleeDlg;
  session.recording = recording;
  table.add(branch.request.callId, fromTag, session, 'callee');
  let answer: MsrpMedia;
  try {
    answer = usableAnswer(stack, res, limits, calleeDlg, session);
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
      await storeAbsent(ctx, session, m, to, sender, callee);
    },
    opts.bindTimeoutMs,
    (side) => legLost(ctx, session, side),
  );
  session.switch.onSwitched = ctx.switched;
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
  answerCaller(ctx, inv, Buffer.from(ours.sdp), 'application/sdp', 'OK', callerStore === null ? {} : { [STORE_HEADER]: callerStore });
  // RFC 6135: where the peer waits for us (a=setup:passive), we connect
  if (answer.setup === 'passive') activeConnect(ctx, session, calleeLeg);
  if (ours.setup === 'active') activeConnect(ctx, session, callerLeg);
}
