import type { MsrpSession } from '../../msrp/msrp-session.js';
import type { OneToOneSession, Side } from './one-to-one-session.js';
import type { InviteSetup, SessionContext } from './session-types.js';

/**
 * Our 200 to the caller's INVITE: the session is answered from now on (its flows are in use,
 * RFC 5626 §5). RFC 3261 §13.3.1.4: the 200 is resent until the caller's ACK; without one the
 * session ends.
 */
export function answerCaller(ctx: SessionContext, inv: InviteSetup, body: Buffer, type: string, reason = 'OK', headers: Record<string, string> = {}): void {
  const { session } = inv;
  session.answeredAt = Date.now();
  ctx.table.countFlows(session);
  const onAckTimeout = (): void => session.end('server', 'no-ack', { text: 'No ACK for the 200 OK', cause: 408 });
  ctx.s.stack.reply(inv.tx, 200, reason, { toTag: inv.tag, headers: { Contact: inv.contact, ...headers }, body, contentType: type, onAckTimeout });
}

/**
 * Connects a leg to a peer that waits for us (a=setup:passive, RFC 6135); a refused or failed
 * connection ends the session.
 */
export function activeConnect(ctx: SessionContext, session: OneToOneSession, leg: MsrpSession): void {
  ctx.s.endpoint.connect(leg).then(
    (status) => {
      if (status !== 200) session.end('server', `msrp-connect-${status}`);
    },
    (err: unknown) => {
      ctx.s.log.info({ err }, 'MSRP connection to a peer failed');
      session.end('server', 'msrp-connect-failed');
    },
  );
}

/**
 * A leg's MSRP connection closed without a BYE: the session is over for both sides, each told by
 * a BYE whose Reason (RFC 3326) says why, and its history row is written.
 */
export function legLost(ctx: SessionContext, session: OneToOneSession, side: Side): void {
  ctx.s.log.info({ caller: session.callerAor, callee: session.calleeAor, side }, 'MSRP connection of a session leg lost');
  session.end('server', `msrp-lost-${side}`, { text: 'MSRP connection lost', cause: 480 });
}
