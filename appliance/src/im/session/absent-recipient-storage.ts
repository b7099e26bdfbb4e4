import { SipError } from '../../sip/errors.js';
import type { ReceivedMessage } from '../../msrp/msrp-session.js';
import type { SenderIdentity } from '../participating/originating-policy.js';
import { refusalReason } from '../deferred/deferred-store.js';
import { STORE_HEADER, refusedAnswer, storeRequest, storedAnswer } from '../../history/store-header.js';
import type { OneToOneSession, Side } from './one-to-one-session.js';
import { answerFor, legTransport } from './session-sdp.js';
import { limitsOf } from './session-limits.js';
import { activeConnect, answerCaller, legLost } from './session-answer.js';
import type { InviteSetup, SessionContext } from './session-types.js';

/**
 * P4: a large message for a callee who cannot take it now is received here (one recvonly MSRP
 * leg) and stored like a pager message. The 200 says so in its reason phrase. A polite block
 * (`discard`) looks the same to the sender, and the message goes nowhere. Once stored for the
 * callee it is a pager message for conversation storage too (H1): into the sender's conversation
 * with the callee (asked on the INVITE, recording, or storing everything) and the callee's with
 * her; the 200 answers a sender who asked as for a session (store-header.ts).
 */
export async function acceptForStorage(ctx: SessionContext, inv: InviteSetup, discard: boolean): Promise<void> {
  const { s } = ctx;
  const { req, tx, session, sender, callee, offer } = inv;
  // Y1: storing is the only way to this callee now, and their profile allows none
  if (!discard && s.profiles !== undefined && !s.profiles.of(callee).storage) throw new SipError(480, refusalReason('profile'));
  const limits = limitsOf(s.profiles, ctx.opts.maxMessageBytes, [sender.username, callee]);
  const any = limits.narrow({ ...offer, acceptTypes: ['*'], acceptWrappedTypes: [] });
  if (any.acceptTypes.length === 0) throw new SipError(488, 'No content type both users may exchange');
  const leg = s.endpoint.create(legTransport(tx.source.transport, offer.protocol));
  leg.remotePath = offer.path;
  session.loneLeg = leg;
  leg.onDisconnect = () => legLost(ctx, session, 'caller');
  const asked = storeRequest(req.headers) === 'on';
  const calleeAor = s.domain.aor(callee);
  leg.onMessage = (m) => {
    session.storedMessages++;
    session.storedBytes += m.body.length;
    if (discard) return;
    void storeAbsent(ctx, session, m, 'callee', sender, callee).then((stored) => {
      if (stored) void s.pagerCapture?.largeMessage(sender.aor, calleeAor, asked, m.contentType, Buffer.from(m.body));
    });
  };
  leg.policy = limits.policy;
  const ours = answerFor(leg, offer, any.acceptTypes, any.acceptWrappedTypes, limits.maxMessageBytes, s.endpoint, 'recvonly');
  session.callerMedia = { local: ours.sdp, remotePath: offer.path };
  // a polite block answers as a store would, conversation included (nothing reveals the block)
  const conversation = asked && s.pagerCapture !== undefined ? await storeAnswer(ctx, sender.aor, calleeAor) : null;
  if (tx.finished) {
    leg.close();
    return;
  }
  answerCaller(ctx, inv, Buffer.from(ours.sdp), 'application/sdp', 'Stored for later delivery', conversation === null ? {} : { [STORE_HEADER]: conversation });
  if (ours.setup === 'active') activeConnect(ctx, session, leg);
}

/** The Conversation-Store answer to a large message's sender who asked: her conversation with the callee, or why not. */
async function storeAnswer(ctx: SessionContext, senderAor: string, calleeAor: string): Promise<string | null> {
  try {
    const c = await ctx.s.pagerCapture!.conversationFor(senderAor, calleeAor);
    return 'refused' in c ? refusedAnswer(c.refused) : storedAnswer(c.publicId);
  } catch (err) {
    ctx.s.log.warn({ err, owner: senderAor }, 'large message conversation not started');
    return null;
  }
}

/**
 * S8: a message for a leg that is gone is stored for that user, as a pager message would be (P2),
 * and pushed when one of the user's devices is registered; resolves whether it was stored (a
 * refusal goes back to the sender as an MSRP failure, with the store's reason).
 */
export async function storeAbsent(ctx: SessionContext, session: OneToOneSession, m: ReceivedMessage, to: Side, sender: SenderIdentity, callee: string): Promise<boolean> {
  const { s } = ctx;
  const toCallee = to === 'callee';
  const recipient = toCallee ? callee : sender.username;
  const fromAor = toCallee ? sender.aor : session.calleeAor;
  const result = await s.store.add({
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
  if (s.location.lookup(s.domain.aor(recipient)).length > 0) s.delivery.scheduleRetry(recipient, 1);
  return true;
}
