import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { MessageExploder } from '../im/controlling/message-exploder.js';
import { MessageRequestHandler } from '../im/pager/message-request-handler.js';
import { OriginatingPolicy } from '../im/participating/originating-policy.js';
import { ImdnAggregator } from '../im/imdn/imdn-aggregator.js';
import { ImdnNotifier } from '../im/imdn/imdn-notifier.js';
import { imdnRequestOf } from '../im/imdn/imdn-request.js';
import type { SipRequest } from '../sip/message/message.js';
import type { SenderIdentity } from '../im/participating/originating-policy.js';
import { TerminatingPolicy } from '../im/participating/terminating-policy.js';
import { ListResolver } from '../xdms/list-resolver.js';
import { AttributeIndex } from '../xdms/attribute-index.js';
import { APP_USAGES } from '../xdms/app-usages.js';
import { ParsedDocumentCache } from '../xdms/parsed-cache.js';
import type { Core } from './wire-core.js';
import type { Storage } from './wire-storage.js';
import { XCAP_ROOT } from './paths.js';

/**
 * The IM functions over the XDMS: terminating policy, URI lists and groups, IMDN aggregation and
 * notifications, the exploder (P3) and the MESSAGE handler the router serves.
 */
export function wireIm(config: Config, log: Logger, core: Core, storage: Storage) {
  const { users, domain, stack, auth, profilePolicy } = core;
  const { documents, pager, store, delivery, usage } = storage;
  const parsed = new ParsedDocumentCache(config.xdms.parsedCacheBytes, documents);
  const policy = new TerminatingPolicy(documents, domain);
  // the IM server's view of URI lists and groups in the shared XDMS (X5); used by the exploder and group chat
  const uniqueIndexes = APP_USAGES.filter((u) => u.uniqueAcross).map(
    (u) => new AttributeIndex(documents, u.auid, u.namespace, u.uniqueAcross!.element, u.uniqueAcross!.attribute),
  );
  const lists = new ListResolver(documents, domain, XCAP_ROOT, uniqueIndexes.find((i) => i.auid === 'org.openmobilealliance.groups')!);
  // the controlling function's message exploder (P3): the conference factory and group URIs
  // IMDN (P5, RFC 5438): the exploder's aggregation, and the notifications we send as an intermediary
  const deliverImdn = (req: SipRequest, from: SenderIdentity, toUser: string) => pager.deliver(req, from, toUser);
  const aggregator = new ImdnAggregator(stack, deliverImdn, { windowMs: config.imdn.aggregationWindow * 1000, stateTtlMs: config.imdn.stateTtl * 1000 }, log);
  const notifier = new ImdnNotifier(stack, domain, deliverImdn, log, (service, recipient, doc) => aggregator.accept(service, recipient, doc));
  pager.onDeferred = (req, sender, recipient) => {
    const asked = imdnRequestOf(req.headers.get('content-type') ?? '', req.body);
    if (asked !== null) notifier.stored(asked, domain.aor(recipient), sender.aor);
  };
  store.onExpiredMessage = (m) => {
    const asked = imdnRequestOf(m.contentType, m.body);
    if (asked !== null) notifier.expired(asked, domain.aor(m.recipient), m.senderAor);
  };
  // Y1/Y3 at push time: a stored message the recipient's profile no longer takes is dropped, told like an expiry
  delivery.refusal = (m) => profilePolicy.pushRefusal(m.recipient, m.contentType, m.body);
  delivery.onRefused = (m, why) => {
    usage.record({ kind: 'deferred', user: domain.aor(m.recipient), peer: m.senderAor, outcome: 'refused', status: why.status, reason: why.reason, bytes: m.body.length });
    const asked = imdnRequestOf(m.contentType, m.body);
    if (asked !== null) notifier.refused(asked, domain.aor(m.recipient), m.senderAor, why.status);
  };
  const exploder = new MessageExploder(stack, domain, users, lists, policy, pager, config.conference, log, aggregator);
  exploder.capture = pager.capture;
  const messages = new MessageRequestHandler(auth, users, domain, new OriginatingPolicy(domain), policy, pager, lists, exploder);
  exploder.profiles = profilePolicy;
  messages.profiles = profilePolicy;
  return { parsed, policy, uniqueIndexes, lists, aggregator, messages };
}

/** What {@link wireIm} made. */
export type Im = Awaited<ReturnType<typeof wireIm>>;
