import type { SipRequest } from '../sip/message/message.js';
import type { Dialog } from '../sip/dialog/dialog.js';
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
 * A dialog of another usage that a SUBSCRIBE inside it may share (RFC 6665 §4.5.2, RFC 5057 §5):
 * the package's own dialog with the subscriber (e.g. a conference participant's INVITE dialog
 * with the focus), and who the subscriber is, known from that dialog.
 */
export interface SharedDialog {
  dialog: Dialog;
  subscriber: Subscriber;
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
  /**
   * For a SUBSCRIBE inside a dialog the framework does not know: the package's own dialog it
   * was sent in, or null (481). The subscription then lives in that dialog (RFC 6665 §4.5.2).
   */
  sharedDialog?(req: SipRequest): SharedDialog | null;
  /**
   * Subscriptions whose resource lives only in this node's memory (a chat room): never stored,
   * so a restart ends them (`deactivated` at stop) instead of bringing them back.
   */
  readonly transient?: boolean;
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
