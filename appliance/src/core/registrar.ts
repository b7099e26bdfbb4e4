import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack } from '../sip/stack.js';
import { SipAnswer, SipError } from '../sip/errors.js';
import { isSipUri, formatUri } from '../sip/message/uri.js';
import { getParam } from '../sip/message/params.js';
import { formatNameAddr } from '../sip/message/name-addr.js';
import { expiresValue, grantedExpires } from '../sip/expires.js';
import { KeyedMutex } from '../util/keyed-mutex.js';
import type { Authenticator } from './authenticator.js';
import { sipUserOrAnswer } from './sip-authentication.js';
import { checkRequire } from './extensions.js';
import type { LocationService, Binding } from './location-service.js';
import type { LocalDomain } from './local-domain.js';
import { userOfUriPart } from './user-names.js';
import { detached, detachedOrNull } from '../util/detached.js';

export interface RegistrarOptions {
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  maxContactsPerUser: number;
}

/** RFC 3261 §20.10: q-value, 0 to 1 with up to three decimals. */
function qValue(raw: string | null | undefined): number {
  if (raw === undefined || raw === null) return 1;
  if (!/^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/.test(raw)) throw new SipError(400, `Malformed q-value '${raw}'`);
  return Number(raw);
}

/**
 * The registrar (RFC 3261 §10.3, C1): processes REGISTER in the order the RFC gives. The
 * REGISTERs of one address-of-record are processed one at a time, so the contact limit
 * holds however many arrive at once (and the store checks it again inside the commit).
 */
export class Registrar {
  private readonly perAor = new KeyedMutex();

  constructor(
    private readonly stack: SipStack,
    private readonly domain: LocalDomain,
    private readonly auth: Authenticator,
    private readonly location: LocationService,
    private readonly opts: RegistrarOptions,
  ) {}

  readonly handle = (req: SipRequest, tx: ServerTransaction): Promise<void> | SipAnswer => {
    // step 1: the Request-URI names a domain we are the registrar for
    const ruri = req.sipUri;
    if (ruri === null || !this.domain.isLocal(ruri.host)) throw new SipError(403, 'Domain not served here');
    // step 2: Require
    checkRequire(req);
    const to = req.to.uri;
    if (!isSipUri(to)) throw new SipError(400, 'Address of record must be a SIP or SIPS URI');
    if (!this.domain.isLocal(to.host)) throw new SipError(403, 'Domain not served here');
    // step 3: authenticate, before anything about the user is told: an unknown user gets the
    // same challenge as a wrong password (no user names can be learnt from us); the challenge,
    // half of all REGISTERs, is returned rather than thrown
    const user = sipUserOrAnswer(this.auth, req, tx.source, true);
    if (user instanceof SipAnswer) return user;
    // step 4: the credentials must be the AOR's own (user parts compare case-insensitively here)
    const username = to.user === null ? null : userOfUriPart(to.user);
    if (username !== user.username) throw new SipError(403, 'Credentials do not match the address of record');
    const aor = this.domain.aor(username);
    return this.perAor.run(aor, () => this.updateBindings(req, tx, aor));
  };

  private async updateBindings(req: SipRequest, tx: ServerTransaction, aor: string): Promise<void> {
    const now = Date.now();
    const headerExpires = expiresValue(req.headers.get('expires'));
    const contacts = req.contacts;
    const current = this.location.lookup(aor, now);
    const callId = req.callId;
    const cseq = req.cseq.seq;
    if (contacts === '*') {
      // step 6: '*' only with Expires: 0 and no other contact
      if (headerExpires !== 0) throw new SipError(400, "Contact '*' requires Expires: 0");
      for (const b of current) {
        if (b.callId === callId && b.cseq >= cseq) throw new SipError(500, 'Out of order REGISTER');
      }
      await this.location.apply(aor, [], current.map((b) => b.contactUri));
      this.ok(tx, []);
      return;
    }
    const upserts: Binding[] = [];
    const removals: string[] = [];
    for (const c of contacts) {
      if (!isSipUri(c.uri)) throw new SipError(400, 'Only SIP and SIPS contacts can be registered');
      const asked = expiresValue(getParam(c.params, 'expires')) ?? headerExpires ?? this.opts.defaultExpires;
      // RFC 3261 §10.3 step 7: too brief an interval gets 423 with our minimum
      const expires = grantedExpires(asked, { min: this.opts.minExpires, max: this.opts.maxExpires });
      const contactUri = formatUri(c.uri);
      const existing = current.find((b) => b.contactUri === contactUri);
      if (existing && existing.callId === callId && existing.cseq >= cseq) throw new SipError(500, 'Out of order REGISTER');
      if (expires === 0) {
        if (existing) removals.push(contactUri);
        continue;
      }
      const src = tx.source;
      upserts.push({
        id: existing?.id ?? (undefined as unknown as number),
        aor: detached(aor),
        // the binding lives for hours: its strings are copied out of the REGISTER's text (util/detached.ts)
        contact: detached(formatNameAddr({ display: null, uri: c.uri, params: c.params.filter((p) => p.name.toLowerCase() !== 'expires') })),
        contactUri: detached(contactUri),
        q: qValue(getParam(c.params, 'q')),
        expiresAt: now + expires * 1000,
        callId: detached(callId),
        cseq,
        transport: src.transport,
        sourceAddress: src.address,
        sourcePort: src.port,
        flowId: src.flowId,
        userAgent: detachedOrNull(req.headers.get('user-agent') ?? null),
        updatedAt: now,
      });
    }
    const after = new Set(current.map((b) => b.contactUri));
    for (const u of upserts) after.add(u.contactUri);
    for (const r of removals) after.delete(r);
    if (after.size > this.opts.maxContactsPerUser) throw tooManyContacts(this.opts.maxContactsPerUser);
    if (upserts.length > 0 || removals.length > 0) {
      const applied = await this.location.apply(aor, upserts, removals, this.opts.maxContactsPerUser);
      if (!applied) throw tooManyContacts(this.opts.maxContactsPerUser);
    }
    this.ok(tx, this.location.lookup(aor));
  }

  /** RFC 3261 §10.3 step 8: 200 with every current binding and its remaining time. */
  private ok(tx: ServerTransaction, bindings: Binding[]): void {
    const now = Date.now();
    const contacts = bindings.map((b) => `${b.contact};expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}`);
    const headers: Record<string, string | string[]> = { Date: new Date(now).toUTCString() };
    if (contacts.length > 0) headers.Contact = contacts;
    this.stack.reply(tx, 200, 'OK', { headers });
  }
}

function tooManyContacts(max: number): SipError {
  return new SipError(403, `Too many contacts (at most ${max})`);
}
