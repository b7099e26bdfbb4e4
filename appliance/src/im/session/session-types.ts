import type { SipRequest } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import type { SipStack } from '../../sip/stack.js';
import type { Authenticator } from '../../core/authenticator.js';
import type { UserDirectory } from '../../core/user-directory.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { LocationService } from '../../core/location-service.js';
import type { OriginatingPolicy, SenderIdentity } from '../participating/originating-policy.js';
import type { TerminatingPolicy } from '../participating/terminating-policy.js';
import type { ProfilePolicy } from '../participating/profile-policy.js';
import type { DeferredStore } from '../deferred/deferred-store.js';
import type { DeferredDelivery } from '../deferred/deferred-delivery.js';
import type { Logger } from '../../log.js';
import type { MsrpEndpoint } from '../../msrp/msrp-endpoint.js';
import type { MsrpMedia } from '../../msrp/msrp-sdp.js';
import type { SessionCapture } from '../../history/session-capture.js';
import type { PagerCapture } from '../../history/pager-capture.js';
import type { OneToOneSession } from './one-to-one-session.js';
import type { SessionHistory } from './session-history.js';
import type { SessionTable } from './session-table.js';

/** The session handler's options (config.ts: `sessions.*`, `msrp.maxMessageBytes`). */
export interface SessionHandlerOptions {
  /** "switch": both MSRP legs end here; "passthrough": the SDP goes through untouched (S7) */
  media: 'switch' | 'passthrough';
  ringTimeoutMs: number;
  /** our a=max-size */
  maxMessageBytes: number;
  /** how long a message waits for the far leg's connection before it is stored */
  bindTimeoutMs: number;
}

/** What the session handler works with (wired in app/wire-sessions.ts). */
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

/** What every step of a session shares: the services, the options and the live sessions. */
export interface SessionContext {
  s: SessionServices;
  opts: SessionHandlerOptions;
  table: SessionTable;
  /** a complete MSRP message was switched from one leg to the other (metrics) */
  switched: () => void;
}

/**
 * A new INVITE once the participating functions let it through: the caller's request and
 * transaction, the session made for it (the caller's dialog, our tag and Contact in it), who
 * sends, to which of our users, and the caller's MSRP offer.
 */
export interface InviteSetup {
  req: SipRequest;
  tx: ServerTransaction;
  session: OneToOneSession;
  sender: SenderIdentity;
  /** the callee's user name */
  callee: string;
  offer: MsrpMedia;
  /** our To tag in the caller's dialog */
  tag: string;
  /** our Contact in the caller's dialog */
  contact: string;
}
