import type { DataSource } from 'typeorm';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { StoreChangeWatcher } from '../store/store-changes.js';
import { MessageCipher } from '../im/deferred/message-cipher.js';
import { ConversationStore } from '../history/conversation-store.js';
import { PagerCapture } from '../history/pager-capture.js';
import { SessionCapture } from '../history/session-capture.js';
import { RoomCapture } from '../history/room-capture.js';
import { RefusalNotices } from '../history/refusal-notices.js';
import { UsageRecorder } from '../usage/usage-recorder.js';
import { StoragePolicy } from '../history/storage-policy.js';
import { DeferredStore } from '../im/deferred/deferred-store.js';
import { DeferredDelivery } from '../im/deferred/deferred-delivery.js';
import { MessageHandler } from '../im/pager/message-handler.js';
import { Reachability } from '../im/pager/reachability.js';
import { DocumentStore } from '../xdms/document-store.js';
import { StorageQuota } from '../quota/storage-quota.js';
import { QuotaNotices } from '../quota/quota-notices.js';
import type { Core } from './wire-core.js';

/**
 * Pager mode and storage: usage records, the deferred store and its delivery, quotas and their
 * notices, the pager, stored conversations, the XCAP document store and who stores everything.
 */
export async function wireStorage(config: Config, log: Logger, ds: DataSource, changes: StoreChangeWatcher, core: Core) {
  const { users, profiles, domain, stack, location } = core;
  const cipher = MessageCipher.loadOrCreate(config.dataDir);
  // usage (charging) records, C5: sources hand them over after answering; committed in batches
  const usage = new UsageRecorder(ds, config.usage, log);
  const store = new DeferredStore(ds, cipher, config.deferred, log);
  // the deferred store knows recipients by user name; records name AORs
  store.usage = { record: (e) => usage.record({ ...e, user: domain.aor(e.user) }) };
  // H3: the storage ledger and quotas, read before anything is stored or deleted (expiry at start too)
  const quota = new StorageQuota(ds, { defaultBytes: config.quota.defaultBytes, warnAt: config.quota.warnAt, serviceAor: domain.aor(config.quota.serviceUser), domain });
  await quota.load();
  quota.follow(changes);
  store.account = quota.deferred;
  await store.load();
  // Y1: nothing is stored for a user whose profile allows no storage (the sender gets 480)
  store.gate = (recipient) => profiles.of(recipient).storage;
  const deliveryTimeoutMs = Math.min(16 * config.sip.timers.T1, 20_000);
  const delivery = new DeferredDelivery(
    stack,
    store,
    location,
    domain,
    { retryMinSec: config.deferred.retryMin, retryMaxSec: config.deferred.retryMax, timeoutMs: deliveryTimeoutMs, sweepIntervalMs: config.deferred.sweepInterval * 1000 },
    log,
  );
  users.onServiceRevoked = (names) => {
    for (const n of names) location.removeAor(domain.aor(n)).catch((err: unknown) => log.warn({ err }, 'binding removal failed'));
  };
  location.onRegistered = (aor) => {
    const user = domain.userOf(aor);
    if (user !== null) delivery.onRegistered(user);
  };
  const pager = new MessageHandler(stack, domain, location, store, delivery, { deliveryTimeoutMs, storeFullRetryAfter: config.deferred.retryAfterWhenFull }, new Reachability((flowId) => stack.hasFlow(flowId), 64 * config.sip.timers.T1));
  // the IM conversation storage database (seed 5.4.7, H1): conversations users asked to keep
  const conversations = new ConversationStore(ds, cipher, { keywordIndex: config.history.keywordIndex });
  await conversations.load();
  conversations.follow(changes);
  conversations.account = quota.conversations;
  conversations.gate = (owner) => {
    const user = domain.userOf(owner);
    return user !== null && !profiles.of(user).storage ? 'Storage is not allowed for this user' : null;
  };
  pager.usage = usage;
  conversations.usage = usage;
  const notices = new QuotaNotices(stack, pager, domain, config.quota.serviceUser, log);
  // H3, Y1: a conversation refused storage is told once per conversation and quota crossing (refusal-notices.ts)
  const refusals = new RefusalNotices(
    (owner, text) => {
      const user = domain.userOf(owner);
      if (user !== null) void notices.tell(user, text, { refused: owner });
    },
    (owner) => quota.timesReached(domain.userOf(owner) ?? owner),
  );
  quota.onWarning = (w) => void notices.send(w);
  const documents = new DocumentStore(ds, log);
  // who has everything stored: the site (history.storeAll) or the user's im-preferences (Y3)
  const storagePolicy = new StoragePolicy(documents, { storeAll: config.history.storeAll }, log);
  await storagePolicy.load();
  storagePolicy.follow(changes);
  pager.capture = new PagerCapture(conversations, storagePolicy, log);
  pager.capture.onRefused = refusals.refused;
  const sessionCapture = new SessionCapture(conversations, storagePolicy, log);
  sessionCapture.onRefused = refusals.refused;
  const roomCapture = new RoomCapture(conversations, storagePolicy, log);
  roomCapture.onRefused = refusals.refused;
  return { cipher, usage, store, quota, delivery, pager, conversations, documents, storagePolicy, sessionCapture, roomCapture };
}

/** What {@link wireStorage} made. */
export type Storage = Awaited<ReturnType<typeof wireStorage>>;
