import type { SipRequest } from '../sip/message/message.js';
import type { TerminationReason } from '../sip/event-header.js';
import type { Subscription } from './subscription.js';

/** A NOTIFY body: its media type (Content-Type, parameters included) and content. */
export interface NotifyBody {
  type: string;
  content: string | Buffer;
}

/** Who subscribes: the authenticated user (RFC 6665 §5.2: notifiers authenticate subscribers). */
export interface Subscriber {
  username: string;
  /** sip:user@domain */
  aor: string;
}

/** What a package decides about a new subscription. */
export interface Opened<D> {
  /** the resource watched (an AOR, or a list's URI) */
  resource: string;
  /** pending: authorisation is awaited (RFC 6665 §4.1.3); active: NOTIFYs carry state */
  state: 'active' | 'pending';
  data: D;
}

/**
 * One event package (RFC 6665 §7) on the shared subscription framework: it decides whether a
 * SUBSCRIBE is accepted and what the NOTIFYs say; the framework does the dialogs, refreshes,
 * expiry, pacing, persistence and limits. Packages never talk to the SIP stack themselves.
 */
export interface EventPackage<D = unknown> {
  /** the Event header's package name, e.g. "presence" */
  readonly event: string;
  /**
   * The package's own name when several serve one event (the resource list server serves
   * "presence" for list URIs, RFC 4662): default `event`.
   */
  readonly kind?: string;
  /** For a package sharing its event: whether it takes this initial SUBSCRIBE (tried before the event's default package). */
  claims?(req: SipRequest): boolean | Promise<boolean>;
  /** media types our NOTIFYs may carry; a SUBSCRIBE whose Accept allows none is refused (406) */
  readonly accept: readonly string[];
  /** least milliseconds between two NOTIFYs of one subscription for state changes (RFC 6665 §7.2.6: each package says) */
  readonly minNotifyInterval?: number;
  /** Checks a new SUBSCRIBE from an authenticated user and returns its initial state, or throws a SipError. */
  open(req: SipRequest, subscriber: Subscriber): Promise<Opened<D>> | Opened<D>;
  /**
   * The body of the next NOTIFY: `full` for the first one, after a refresh or a restart, else
   * what changed since the last (packages with partial state) or the whole state again. Null: no body.
   */
  render(sub: Subscription<D>, full: boolean): Promise<NotifyBody | null> | NotifyBody | null;
  /** Told once a subscription is live (its 2xx sent), e.g. for watcher information. */
  started?(sub: Subscription<D>): void;
  /** Told when a subscription ends, for whatever reason. */
  ended?(sub: Subscription<D>, reason: TerminationReason): void;
  /** The data kept in the store for a restart (default: `data` as JSON) and its revival. */
  persist?(data: D): unknown;
  revive?(saved: unknown): D;
}
