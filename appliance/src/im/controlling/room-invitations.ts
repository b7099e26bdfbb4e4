/**
 * Where an invitation into a room stands, as the conference-info endpoint of a user the focus was
 * asked to invite and who is not (yet) in the room (RFC 4575 §5.6.4 endpoint status):
 * `pending` before any INVITE left (the checks of the invitee's profile and block list),
 * `dialing-out` once it left, `alerting` once a device rang (180), `disconnected` when it failed.
 */
export type InvitationStatus = 'pending' | 'dialing-out' | 'alerting' | 'disconnected';

/** How an invitation failed (RFC 4575 §5.6.5 disconnection-method and §5.6.6 disconnection-info). */
export interface InvitationFailure {
  /** `busy` when the invitee answered busy (486, 600), `failed` for every other failure */
  method: 'busy' | 'failed';
  /** the final status as an RFC 3326 Reason value: `SIP;cause=486;text="Busy Here"` */
  reason: string;
  at: number;
}

/** One invitation into a room, until the invitee joins. */
export interface Invitation {
  /** the invitee's AOR, as the list (or the REFER) named it */
  aor: string;
  /** who asked the focus to invite them (RFC 4575 referred) */
  invitedBy: string;
  status: InvitationStatus;
  /** an INVITE left for them (RFC 4575 joining-method dialed-out) */
  dialled: boolean;
  failure?: InvitationFailure;
}

/** SIP statuses by which the invitee said it is busy (RFC 3261 §21.4.24, §21.6.1): RFC 4575's `busy`. */
const BUSY = new Set([486, 600]);

/**
 * The failure of an invitation whose final answer was `status` with `text`: RFC 4575 §5.6.5
 * `busy` when the endpoint was busy, else `failed`; the reason carries the SIP status in the
 * RFC 3326 Reason syntax, which the free-text `reason` of RFC 4575's execution-type can hold.
 * `byFocus`: the status is the focus's own refusal (a full room's 486), not the endpoint's answer.
 */
export function invitationFailure(status: number, text: string, at = Date.now(), byFocus = false): InvitationFailure {
  return { method: BUSY.has(status) && !byFocus ? 'busy' : 'failed', reason: `SIP;cause=${status};text="${text.replace(/["\\\r\n]/g, '')}"`, at };
}

/**
 * The invitations of one room, by invitee (lower-case AOR). The room tells its watchers of each
 * change (`changed`); an invitee who joins leaves this table (the room's participants show them).
 */
export class RoomInvitations {
  private readonly byAor = new Map<string, Invitation>();

  constructor(private readonly changed: (aor: string) => void) {}

  /** The focus was asked to invite `aor`: pending until an INVITE leaves. */
  begin(aor: string, invitedBy: string): void {
    this.byAor.set(aor.toLowerCase(), { aor, invitedBy, status: 'pending', dialled: false });
    this.changed(aor);
  }

  /** An INVITE left (`dialing-out`), or one of the invitee's devices rings (`alerting`). */
  progress(aor: string, status: 'dialing-out' | 'alerting'): void {
    const inv = this.byAor.get(aor.toLowerCase());
    if (inv === undefined || inv.status === status || inv.status === 'disconnected') return;
    inv.status = status;
    inv.dialled = true;
    this.changed(aor);
  }

  /** The invitation ended without the invitee in the room: its final status and reason phrase (`byFocus`: ours, not theirs). */
  fail(aor: string, status: number, text: string, byFocus = false): void {
    const inv = this.byAor.get(aor.toLowerCase());
    if (inv === undefined) return;
    inv.status = 'disconnected';
    inv.failure = invitationFailure(status, text, Date.now(), byFocus);
    this.changed(aor);
  }

  /** The invitee joined: the room's participant list shows them from now on. */
  settle(aor: string): void {
    this.byAor.delete(aor.toLowerCase());
  }

  /** The invitation of a user (lower-case AOR), if one is open or failed. */
  get(key: string): Invitation | undefined {
    return this.byAor.get(key);
  }

  /** Every invitation not settled by a join, in the order they were made. */
  list(): Invitation[] {
    return [...this.byAor.values()];
  }
}
