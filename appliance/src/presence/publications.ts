import { randomBytes } from 'node:crypto';
import { SipError } from '../sip/errors.js';
import type { PidfParts } from './pidf.js';

/** One soft state of a presentity (RFC 3903 §2: an event state publication), e.g. one device's. */
export interface Publication {
  etag: string;
  presentity: string;
  parts: PidfParts;
  expiresAt: number;
  /** when its content last changed: composition prefers the most recent (README: presence) */
  updatedAt: number;
  timer: NodeJS.Timeout | null;
}

export interface PublishOutcome {
  /** null when the publication was removed */
  etag: string | null;
  expires: number;
}

/**
 * The event state compositor's store (RFC 3903 §6): publications per presentity, each with its
 * entity-tag and expiry. Every successful PUBLISH gets a new entity-tag (§6 step 8); one with an
 * unknown tag is 412 (§6 step 4), and the client starts again with an initial PUBLISH. Held in
 * memory: a restart loses them, and each client's next refresh gets 412 and publishes again.
 */
export class Publications {
  private readonly byEtag = new Map<string, Publication>();
  private readonly byPresentity = new Map<string, Set<Publication>>();
  /** told whenever a presentity's published state changes (new, modified, removed, expired) */
  onChange: (presentity: string) => void = () => undefined;

  constructor(private readonly maxPerPresentity: number) {}

  /** The live publications of a presentity, most recent first. */
  of(presentity: string): Publication[] {
    return [...(this.byPresentity.get(presentity) ?? [])].sort((a, b) => b.updatedAt - a.updatedAt);
  }

  get size(): number {
    return this.byEtag.size;
  }

  /**
   * Applies one PUBLISH: initial (no `ifMatch`, a body), refresh (`ifMatch`, no body), modify
   * (`ifMatch` and a body) or remove (`ifMatch`, expires 0). Synchronous, so concurrent
   * PUBLISHes for one presentity cannot interleave.
   */
  publish(presentity: string, ifMatch: string | null, expires: number, parts: PidfParts | null): PublishOutcome {
    if (ifMatch === null) {
      // RFC 3903 §6 step 3: an initial PUBLISH must carry a body
      if (parts === null) throw new SipError(400, 'Initial PUBLISH without a body (no SIP-If-Match)');
      if (expires === 0) return { etag: null, expires: 0 };
      const set = this.byPresentity.get(presentity);
      if ((set?.size ?? 0) >= this.maxPerPresentity) throw new SipError(403, `Too many publications (at most ${this.maxPerPresentity} per presentity)`);
      const pub: Publication = { etag: newEtag(), presentity, parts, expiresAt: 0, updatedAt: Date.now(), timer: null };
      this.add(pub);
      this.arm(pub, expires);
      this.onChange(presentity);
      return { etag: pub.etag, expires };
    }
    const pub = this.byEtag.get(ifMatch);
    // RFC 3903 §6 step 4: an entity-tag we do not hold (or someone else's) is 412
    if (pub === undefined || pub.presentity !== presentity) throw new SipError(412, 'Conditional Request Failed');
    if (expires === 0) {
      this.remove(pub);
      this.onChange(presentity);
      return { etag: null, expires: 0 };
    }
    this.byEtag.delete(pub.etag);
    pub.etag = newEtag();
    this.byEtag.set(pub.etag, pub);
    this.arm(pub, expires);
    if (parts !== null) {
      pub.parts = parts;
      pub.updatedAt = Date.now();
      this.onChange(presentity);
    }
    return { etag: pub.etag, expires };
  }

  private add(pub: Publication): void {
    this.byEtag.set(pub.etag, pub);
    let set = this.byPresentity.get(pub.presentity);
    if (set === undefined) {
      set = new Set();
      this.byPresentity.set(pub.presentity, set);
    }
    set.add(pub);
  }

  private remove(pub: Publication): void {
    if (pub.timer) clearTimeout(pub.timer);
    this.byEtag.delete(pub.etag);
    const set = this.byPresentity.get(pub.presentity);
    set?.delete(pub);
    if (set?.size === 0) this.byPresentity.delete(pub.presentity);
  }

  /** RFC 3903 §6 step 7: a publication not refreshed in time is removed, and watchers are told. */
  private arm(pub: Publication, expires: number): void {
    if (pub.timer) clearTimeout(pub.timer);
    pub.expiresAt = Date.now() + expires * 1000;
    pub.timer = setTimeout(() => {
      if (this.byEtag.get(pub.etag) !== pub) return;
      this.remove(pub);
      this.onChange(pub.presentity);
    }, expires * 1000);
    pub.timer.unref();
  }

  stop(): void {
    for (const p of this.byEtag.values()) if (p.timer) clearTimeout(p.timer);
    this.byEtag.clear();
    this.byPresentity.clear();
  }
}

function newEtag(): string {
  return randomBytes(9).toString('base64url');
}
