import type { DataSource } from 'typeorm';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Router } from '../core/router.js';
import { HistoryView } from '../history/history-view.js';
import { REPLAY_PREFIX } from '../history/replay-handler.js';
import { XcapDiffPackage } from '../xdms/xcap-diff.js';
import { SubscriptionService } from '../events/subscription-service.js';
import { SubscriptionStore } from '../events/subscription-store.js';
import { Publications } from '../presence/publications.js';
import { PublishHandler } from '../presence/publish-handler.js';
import { PresenceComposer } from '../presence/presence-composer.js';
import { PresenceAuthorizer } from '../presence/presence-authorizer.js';
import { PresencePackage } from '../presence/presence-package.js';
import { WatcherFeed } from '../presence/watcher-feed.js';
import { WinfoPackage } from '../presence/winfo-package.js';
import { RlsPackage } from '../rls/rls-package.js';
import { ListLookup } from '../rls/list-lookup.js';
import type { Core } from './wire-core.js';
import type { Storage } from './wire-storage.js';
import type { Im } from './wire-im.js';
import { XCAP_ROOT } from './paths.js';

/**
 * Subscriptions (RFC 6665) and what they serve: xcap-diff with the im-history view, the presence
 * server (PUBLISH, presence, watcher info) and the resource list server, on the router's event table.
 */
export function wireEvents(config: Config, log: Logger, ds: DataSource, core: Core, storage: Storage, im: Im, router: Router, xcapRootUrl: string) {
  const { users, domain, stack, auth, location } = core;
  const { documents, conversations } = storage;
  const { uniqueIndexes, lists } = im;
  // one subscription framework (RFC 6665) for every event package
  const subscriptions = new SubscriptionService(stack, auth, domain, new SubscriptionStore(ds), config.subscriptions, log);
  // the im-history usage: each user's document is a view of their stored conversations (H1)
  const replayUri = (publicId: string): string => domain.aor(`${REPLAY_PREFIX}${publicId}`);
  const historyView = new HistoryView(conversations, { replayUri, watched: (owner) => subscriptions.watchersOf('xcap-diff', owner).length > 0 }, log);
  const xcapDiff = new XcapDiffPackage(subscriptions, documents, domain, { xcapRootUrl, xcapRootPath: XCAP_ROOT, generated: (owner) => historyView.documentsOf(owner) });
  historyView.onDocumentChanged = (change) => xcapDiff.generatedChanged(change);
  router.serveEvent(xcapDiff.event, subscriptions.register(xcapDiff));
  // the presence server (R1-R4): PUBLISH, presence and watcher-info subscriptions
  const publications = new Publications(config.presence.maxPublicationsPerUser);
  const composer = new PresenceComposer(publications, documents, location, log);
  location.onBindingsChanged = (aor) => composer.registrationChanged(aor);
  const authorizer = new PresenceAuthorizer(documents);
  // who watches whom (SIP watchers and the RLS's back-end ones), for watcher information
  const watchers = new WatcherFeed(log);
  const presence = new PresencePackage(subscriptions, composer, authorizer, users, domain, watchers, log);
  const winfo = new WinfoPackage(subscriptions, presence, watchers);
  // the resource list server (R3): presence SUBSCRIBEs to list URIs
  const rlsServices = uniqueIndexes.find((i) => i.auid === 'rls-services')!;
  const rls = new RlsPackage(subscriptions, new ListLookup(documents, rlsServices, lists, domain), composer, authorizer, documents, users, domain, watchers, log);
  subscriptions.register(rls);
  router.serve('PUBLISH', new PublishHandler(stack, auth, domain, publications, config.presence).handle);
  router.serveEvent(presence.event, subscriptions.register(presence));
  router.serveEvent(winfo.event, subscriptions.register(winfo));
  return { subscriptions, historyView, publications, replayUri };
}

/** What {@link wireEvents} made. */
export type Events = Awaited<ReturnType<typeof wireEvents>>;
