/**
 * Usage records (C5, the C-1 charging reference point): one row per chargeable event. The kinds,
 * and what `user`, `peer` and `outcome` mean for each:
 *
 * | kind | user | peer | outcome |
 * |---|---|---|---|
 * | `pager` | sender | recipient | `delivered`, `stored`, `refused` (status says why) |
 * | `exploded` | sender | recipient (`service`: the list or group) | as `pager` |
 * | `session`, `large-message` | caller | callee | `ended` (`reason`: why) |
 * | `room` | participant | room URI | `left` (`reason`: how) |
 * | `conversation` | owner | first peer | `stored`, `refused`, `deleted` (`bytes` freed) |
 * | `deferred` | recipient | sender | `stored`, `delivered`, `expired`, `refused` (at push time: the recipient's profile no longer takes it) |
 */
export type UsageKind = 'pager' | 'exploded' | 'session' | 'large-message' | 'room' | 'conversation' | 'deferred';

/** One usage event as its source reports it; the recorder stamps nothing but what is missing. */
export interface UsageEvent {
  kind: UsageKind;
  /** when it happened, ms (a session or membership: when it started) */
  at?: number;
  user: string;
  peer: string;
  /** the list service (exploded sends): a group URI or the conference factory */
  service?: string | null;
  outcome: string;
  /** the SIP status the sender was given (pager, exploded), when there was one */
  status?: number | null;
  reason?: string | null;
  /** body bytes (messages), bytes stored or freed (storage), bytes switched (sessions) when known */
  bytes?: number | null;
  /** messages in a session or sent by a room member */
  messages?: number | null;
  /** how long a session or membership lasted, ms */
  durationMs?: number | null;
}

/** Where sources hand their usage events: synchronous and cheap, never awaited on a request's path. */
export interface UsageSink {
  record(e: UsageEvent): void;
}

/** What became of one message for one recipient, as a usage outcome, from the status the sender was given. */
export function messageOutcome(status: number, stored: boolean): 'delivered' | 'stored' | 'refused' {
  if (stored) return 'stored';
  return status >= 200 && status < 300 ? 'delivered' : 'refused';
}
