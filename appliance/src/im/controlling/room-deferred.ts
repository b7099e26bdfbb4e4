import type { LocalDomain } from '../../core/local-domain.js';
import type { LocationService } from '../../core/location-service.js';
import { refusalReason, type DeferredStore } from '../deferred/deferred-store.js';
import type { DeferredDelivery } from '../deferred/deferred-delivery.js';
import type { AbsentRecipient } from './room.js';

export interface RoomDeferredServices {
  domain: LocalDomain;
  location: LocationService;
  store: DeferredStore;
  delivery: DeferredDelivery;
}

/**
 * S8 for rooms: a private message (RFC 7701) to a member who has left the room is stored for
 * them like a pager message (P2), from its sender, and pushed as a MESSAGE when they register
 * (or at once, if a device of theirs is registered). The sender's REPORT says how it went: 200
 * stored, 480 when their store (or the sender's share of it) is full, 404 for no user of ours.
 */
export function roomDeferred(s: RoomDeferredServices): AbsentRecipient {
  return async (toAor, from, contentType, body) => {
    const recipient = s.domain.userOf(toAor);
    if (recipient === null) return { status: 404, comment: 'Not Found' };
    const result = await s.store.add({ recipient, fromHeader: `<${from.aor}>`, senderAor: from.aor, contentType, body: Buffer.from(body), receivedAt: Date.now() });
    if (!result.stored) return { status: 480, comment: refusalReason(result.refusal) };
    if (s.location.lookup(s.domain.aor(recipient)).length > 0) s.delivery.scheduleRetry(recipient, 1);
    return { status: 200, comment: 'Stored for later delivery' };
  };
}
