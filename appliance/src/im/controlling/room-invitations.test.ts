import { describe, expect, it } from 'vitest';
import { invitationFailure, RoomInvitations } from './room-invitations.js';
import { fullConferenceInfo, partialConferenceInfo, type RoomView } from './conference-info.js';

const room = (invitations: RoomInvitations): RoomView => ({ uri: 'sip:chat-1@x', subject: null, maxParticipants: null, participants: [], invitations: invitations.list() });

describe('the invitations of a room (RFC 4575 §5.6.4–5.6.6)', () => {
  it('calls a busy answer busy and every other failure failed, with the status as an RFC 3326 reason', () => {
    expect(invitationFailure(486, 'Busy Here', 0)).toEqual({ method: 'busy', reason: 'SIP;cause=486;text="Busy Here"', at: 0 });
    expect(invitationFailure(600, 'Busy Everywhere', 0).method).toBe('busy');
    expect(invitationFailure(603, 'Decline', 0)).toEqual({ method: 'failed', reason: 'SIP;cause=603;text="Decline"', at: 0 });
    // a full room's 486 is the focus's refusal, not the endpoint being busy
    expect(invitationFailure(486, 'Room is full (2 participants)', 0, true).method).toBe('failed');
    // the reason phrase cannot break out of the quoted text
    expect(invitationFailure(403, 'say "no"\r\n', 0).reason).toBe('SIP;cause=403;text="say no"');
  });

  it('goes pending, dialing-out, alerting, disconnected; tells each change once; forgets an invitee who joined', () => {
    const told: string[] = [];
    const inv = new RoomInvitations((aor) => told.push(aor));
    inv.begin('sip:bob@x', 'sip:dave@x');
    expect(inv.get('sip:bob@x')).toMatchObject({ status: 'pending', dialled: false });
    inv.progress('sip:bob@x', 'dialing-out');
    inv.progress('sip:bob@x', 'dialing-out');
    inv.progress('sip:bob@x', 'alerting');
    inv.fail('sip:bob@x', 486, 'Busy Here');
    // a late provisional does not undo the failure
    inv.progress('sip:bob@x', 'alerting');
    expect(inv.get('sip:bob@x')).toMatchObject({ status: 'disconnected', dialled: true, failure: { method: 'busy' } });
    expect(told).toEqual(['sip:bob@x', 'sip:bob@x', 'sip:bob@x', 'sip:bob@x']);
    inv.begin('sip:Carol@x', 'sip:dave@x');
    inv.settle('sip:carol@x');
    expect(inv.list().map((i) => i.aor)).toEqual(['sip:bob@x']);
  });

  it('puts each invitee in the full document and in a partial one as a whole user with the invitation endpoint', () => {
    const inv = new RoomInvitations(() => undefined);
    inv.begin('sip:ghost@x', 'sip:dave@x');
    inv.fail('sip:ghost@x', 404, 'Not Found');
    inv.begin('sip:bob@x', 'sip:dave@x');
    inv.progress('sip:bob@x', 'dialing-out');
    const full = fullConferenceInfo(room(inv), 1);
    expect(full).toContain(
      '<user entity="sip:ghost@x" state="full"><roles><entry>participant</entry></roles><endpoint entity="sip:ghost@x" state="full"><referred><by>sip:dave@x</by></referred><status>disconnected</status><disconnection-method>failed</disconnection-method><disconnection-info><when>',
    );
    expect(full).toContain('<reason>SIP;cause=404;text="Not Found"</reason></disconnection-info></endpoint></user>');
    expect(full).toContain('<endpoint entity="sip:bob@x" state="full"><referred><by>sip:dave@x</by></referred><status>dialing-out</status><joining-method>dialed-out</joining-method></endpoint>');
    // invitees are not in the room: the user count is of participants
    expect(full).toContain('<user-count>0</user-count>');
    const partial = partialConferenceInfo(room(inv), 2, [{ aor: 'sip:bob@x', present: [], departed: [], invitation: inv.get('sip:bob@x') }]);
    expect(partial).toContain('<users state="partial"><user entity="sip:bob@x" state="full">');
    expect(partial).not.toContain('ghost');
  });
});
