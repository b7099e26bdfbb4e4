import type { DataSource } from 'typeorm';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Router } from '../core/router.js';
import { RoomFocus } from '../im/controlling/room-focus.js';
import { roomDeferred } from '../im/controlling/room-deferred.js';
import { ConferencePackage } from '../im/controlling/conference-package.js';
import { SipError } from '../sip/errors.js';
import { OriginatingPolicy } from '../im/participating/originating-policy.js';
import { ReplayHandler } from '../history/replay-handler.js';
import { MsrpEndpoint } from '../msrp/msrp-endpoint.js';
import { SessionRequestHandler } from '../im/session/session-request-handler.js';
import { SessionHistory } from '../im/session/session-history.js';
import type { Core } from './wire-core.js';
import type { Storage } from './wire-storage.js';
import type { Im } from './wire-im.js';
import type { Events } from './wire-events.js';

/**
 * Session-mode IM (S1, P4) and rooms (S3): the MSRP endpoint, one-to-one sessions, the conference
 * focus and its event package, replay of stored conversations, and their INVITE/BYE/UPDATE/REFER
 * routes. `msrp.port: 0` turns all of it off.
 */
export function wireSessions(config: Config, log: Logger, ds: DataSource, core: Core, storage: Storage, im: Im, events: Events, router: Router) {
  const { users, domain, stack, auth, location, credentials, advertisedHost, profilePolicy } = core;
  const { usage, store, delivery, conversations, sessionCapture, roomCapture, pager } = storage;
  const { policy, lists } = im;
  const { subscriptions } = events;
  // session-mode IM (S1, P4): our MSRP endpoint and the INVITE/BYE handlers; msrp.port 0 turns it off
  const msrp =
    config.msrp.port === 0
      ? null
      : new MsrpEndpoint(
          {
            host: advertisedHost,
            bind: config.sip.bind,
            port: config.msrp.port === 'auto' ? 0 : config.msrp.port,
            tlsPort: config.msrp.tlsPort === 0 ? null : config.msrp.tlsPort === 'auto' ? 0 : config.msrp.tlsPort,
            tls: credentials ? { cert: credentials.cert, key: credentials.key } : undefined,
            maxChunkBytes: config.msrp.maxChunkBytes,
            maxHeaderBytes: 16 * 1024,
            transactionTimeoutMs: config.msrp.transactionTimeout,
            maxMessageBytes: config.msrp.maxMessageBytes,
            chunkBytes: config.msrp.chunkBytes,
          },
          (err, where) => log.debug({ err, where }, 'MSRP connection problem'),
        );
  const sessionHistory = new SessionHistory(ds);
  sessionHistory.usage = usage;
  const sessionHandler =
    msrp === null
      ? null
      : new SessionRequestHandler(
          { stack, domain, auth, users, originating: new OriginatingPolicy(domain), terminating: policy, location, endpoint: msrp, store, delivery, history: sessionHistory, log, profiles: profilePolicy, capture: sessionCapture, pagerCapture: pager.capture ?? undefined },
          { media: config.sessions.media, ringTimeoutMs: config.sessions.ringTimeout * 1000, maxMessageBytes: config.msrp.maxMessageBytes, bindTimeoutMs: 10_000 },
        );
  // the conference focus (S3): INVITEs to group URIs and BYEs in room dialogs; the rest is one-to-one
  const focus =
    msrp === null
      ? null
      : new RoomFocus(
          {
            stack,
            domain,
            auth,
            originating: new OriginatingPolicy(domain),
            terminating: policy,
            lists,
            endpoint: msrp,
            location,
            log,
            users,
            absent: roomDeferred({ domain, location, store, delivery }),
            history: sessionHistory,
            capture: roomCapture,
          },
          { ...config.conference, ringTimeoutMs: config.sessions.ringTimeout * 1000, maxMessageBytes: config.msrp.maxMessageBytes },
        );
  // replay of stored conversations over MSRP (H1): INVITEs to sip:history-<id>@domain
  const replay =
    msrp === null
      ? null
      : new ReplayHandler(
          { stack, auth, originating: new OriginatingPolicy(domain), endpoint: msrp, store: conversations, log },
          { maxMessageBytes: config.msrp.maxMessageBytes, bindTimeoutMs: 10_000, pageSize: 100 },
        );
  if (focus !== null) focus.profiles = profilePolicy;
  if (sessionHandler !== null && focus !== null && replay !== null) {
    // the conference event package (RFC 4575, S5): participant lists of the rooms this node owns
    const conference = new ConferencePackage(subscriptions, focus, domain);
    router.serveEvent(conference.event, subscriptions.register(conference));
    // C5: one usage record per room membership, when it ends
    const toConference = focus.onRoomChange;
    focus.onRoomChange = (room, change) => {
      toConference(room, change);
      if (change.kind !== 'left') return;
      const joined = change.p.joinedAt ?? change.departure.at;
      const how = change.departure.reason === undefined ? change.departure.method : `${change.departure.method}: ${change.departure.reason}`;
      usage.record({ kind: 'room', at: joined, user: change.p.aor, peer: room.uri, outcome: 'left', reason: how, messages: change.p.sent ?? 0, durationMs: change.departure.at - joined });
    };
    router
      .serve('INVITE', async (req, tx) => (replay.claims(req) ? replay.handleInvite(req, tx) : (await focus.claims(req)) ? focus.handleInvite(req, tx) : sessionHandler.handleInvite(req, tx)))
      .serve('BYE', async (req, tx) => (replay.claims(req) ? replay.handleBye(req, tx) : (await focus.claims(req)) ? focus.handleBye(req, tx) : sessionHandler.handleBye(req, tx)))
      // UPDATE (RFC 3311): session refreshes and re-offers inside session and room dialogs
      .serve('UPDATE', async (req, tx) => {
        if (req.toTag === undefined) throw new SipError(481, 'Call/Transaction Does Not Exist');
        return (await focus.claims(req)) ? focus.handleInDialog(req, tx) : sessionHandler.handleInDialog(req, tx);
      })
      // REFER (RFC 3515) is only for rooms: invite more (RFC 4579 §5.5)
      .serve('REFER', async (req, tx) => {
        if (!(await focus.claims(req))) throw new SipError(req.toTag === undefined ? 404 : 481, req.toTag === undefined ? 'Not Found' : 'Call/Transaction Does Not Exist');
        return focus.handleRefer(req, tx);
      });
  }
  // RFC 7977: MSRP over the SIP WebSocket ports, sub-protocol "msrp"
  if (msrp !== null) stack.serveWebSocketSubprotocol('msrp', config.msrp.maxChunkBytes + 16 * 1024, (ws, remote, secure) => msrp.adoptWebSocket(ws, remote, secure));
  return { msrp, sessionHandler, focus, replay };
}

/** What {@link wireSessions} made. */
export type Sessions = ReturnType<typeof wireSessions>;
