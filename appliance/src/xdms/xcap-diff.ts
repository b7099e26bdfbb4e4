import { DOMParser } from '@xmldom/xmldom';
import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack } from '../sip/stack.js';
import { SipError } from '../sip/errors.js';
import { Dialog, dialogId, destinationFor } from '../sip/dialog/dialog.js';
import { formatUri } from '../sip/message/uri.js';
import type { LocalDomain } from '../core/local-domain.js';
import type { Authenticator } from '../core/authenticator.js';
import { authenticateSip } from '../core/sip-authentication.js';
import { checkRequire } from '../core/extensions.js';
import { expiresValue, grantedExpires } from '../sip/expires.js';
import { mediaTypeOf } from '../sip/message/media-type.js';
import type { Logger } from '../log.js';
import type { DocumentStore, DocumentChange } from './document-store.js';
import { escapeAttr } from './xcap-error.js';

const XCAP_DIFF_TYPE = 'application/xcap-diff+xml';
const RL = 'urn:ietf:params:xml:ns:resource-lists';

export interface XcapDiffOptions {
  /** the absolute XCAP root clients use, e.g. http://host:8080/xcap-root */
  xcapRootUrl: string;
  /** the path part of it, e.g. /xcap-root */
  xcapRootPath: string;
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  /** subscriptions one user may hold at once (a new one past it is refused) */
  maxPerUser: number;
}

interface Subscription {
  dialog: Dialog;
  /** the subscriber's AOR: they see only their own documents */
  owner: string;
  /** XCAP paths below the root; one ending in "/" is a folder (RFC 5875 §4.1) */
  resources: string[];
  expiresAt: number;
  timer: NodeJS.Timeout | null;
  /** false until the full-state NOTIFY is out: changes meanwhile only set `missed` */
  ready: boolean;
  /** a change came while the full state was being read: send the full state again */
  missed: boolean;
}

/**
 * The xcap-diff event package (RFC 5875 on RFC 6665, X4): a user subscribes to
 * their documents (all of them, or those a resource-lists body names) and is
 * sent the full state first, then an xcap-diff document on every change made
 * from any device.
 */
export class XcapDiffNotifier {
  private readonly subs = new Map<string, Subscription>();
  /** live subscriptions per flow their NOTIFYs use */
  private readonly perFlow = new Map<string, number>();

  constructor(
    private readonly stack: SipStack,
    private readonly docs: DocumentStore,
    private readonly domain: LocalDomain,
    private readonly auth: Authenticator,
    private readonly opts: XcapDiffOptions,
    private readonly log: Logger,
  ) {
    docs.onChange((change) => this.onChange(change));
  }

  /**
   * SUBSCRIBE with Event: xcap-diff, the router's handler: a request inside one of our dialogs
   * is a refresh or an unsubscribe (its dialog identifiers authorise it, since the initial
   * SUBSCRIBE was authenticated); anything else is a new subscription to authenticate.
   */
  readonly handle = async (req: SipRequest, tx: ServerTransaction): Promise<void> => {
    if (req.toTag !== undefined) {
      if (!this.owns(req)) throw new SipError(481, 'Subscription Does Not Exist');
      await this.refresh(req, tx);
      return;
    }
    const user = authenticateSip(this.auth, req, tx.source, false);
    checkRequire(req);
    await this.subscribe(req, tx, user.username);
  };

  /** Active subscriptions: those whose full-state NOTIFY has gone out (what /health reports). */
  get size(): number {
    let n = 0;
    for (const s of this.subs.values()) if (s.ready) n++;
    return n;
  }

  /** Whether a subscription's NOTIFYs go over this flow (so the connection must stay open). */
  usesFlow(flowId: string): boolean {
    return this.perFlow.has(flowId);
  }

  /** Counts the live subscriptions whose NOTIFYs go over a flow, so that `usesFlow` is O(1). */
  private countFlow(sub: Subscription, delta: 1 | -1): void {
    const flow = sub.dialog.state.destination.flowId;
    if (flow === undefined) return;
    const n = (this.perFlow.get(flow) ?? 0) + delta;
    if (n > 0) this.perFlow.set(flow, n);
    else this.perFlow.delete(flow);
  }

  stop(): void {
    for (const s of this.subs.values()) if (s.timer) clearTimeout(s.timer);
    this.subs.clear();
    this.perFlow.clear();
  }

  /** An initial SUBSCRIBE from an authenticated user for their own AOR. */
  async subscribe(req: SipRequest, tx: ServerTransaction, username: string): Promise<void> {
    const target = req.sipUri;
    if (target === null || target.user !== username) throw new SipError(403, 'Only your own documents can be watched');
    this.checkAccept(req);
    const expires = this.expiresOf(req);
    const owner = this.domain.aor(username);
    const resources = this.resourcesOf(req, owner);
    if (expires > 0 && this.countOf(owner) >= this.opts.maxPerUser) {
      throw new SipError(403, `Too many subscriptions (at most ${this.opts.maxPerUser} per user)`);
    }
    const contactHeader = req.contacts === '*' ? undefined : req.contacts[0];
    if (contactHeader === undefined) throw new SipError(400, 'SUBSCRIBE needs a Contact');
    const localTag = this.stack.newId();
    const transport = tx.source.transport;
    const port = this.stack.ports[transport] ?? this.stack.ports.UDP;
    const dialog = new Dialog({
      callId: req.callId,
      localTag,
      remoteTag: req.fromTag ?? '',
      localUri: formatUri(target),
      remoteUri: formatUri(req.from.uri),
      remoteTarget: formatUri(contactHeader.uri),
      localContact: `<sip:${username}@${this.stack.advertisedHost}:${port};transport=${transport.toLowerCase()}>`,
      localSeq: 0,
      remoteSeq: req.cseq.seq,
      destination: destinationFor(contactHeader.uri, tx.source),
    });
    const sub: Subscription = { dialog, owner, resources, expiresAt: 0, timer: null, ready: false, missed: false };
    if (expires === 0) {
      // a fetch (RFC 6665 §4.4.3): one NOTIFY with the state, then the subscription is over
      this.stack.reply(tx, 200, 'OK', { toTag: localTag, headers: { Expires: '0', Contact: dialog.state.localContact } });
      await this.notifyFull(sub, 'terminated;reason=timeout');
      return;
    }
    this.arm(sub, expires);
    // registered before the state is read, so a change committed meanwhile is noticed (`missed`)
    this.subs.set(dialog.id, sub);
    this.countFlow(sub, 1);
    this.stack.reply(tx, 200, 'OK', { toTag: localTag, headers: { Expires: String(expires), Contact: dialog.state.localContact } });
    await this.notifyFull(sub, `active;expires=${expires}`);
  }

  private countOf(owner: string): number {
    let n = 0;
    for (const s of this.subs.values()) if (s.owner === owner) n++;
    return n;
  }

  /** Whether an in-dialog request belongs to one of our subscriptions. */
  owns(req: SipRequest): boolean {
    return this.subs.has(dialogId(req.callId, req.toTag ?? '', req.fromTag ?? ''));
  }

  /** A refresh or an unsubscribe (Expires: 0) inside the dialog (RFC 6665 §4.2.1.2). */
  async refresh(req: SipRequest, tx: ServerTransaction): Promise<void> {
    const sub = this.subs.get(dialogId(req.callId, req.toTag ?? '', req.fromTag ?? ''));
    if (!sub) throw new SipError(481, 'Subscription Does Not Exist');
    if (!sub.dialog.acceptRemoteSeq(req.cseq.seq)) throw new SipError(500, 'Out of order request');
    const expires = this.expiresOf(req);
    if (expires === 0) {
      this.end(sub);
      this.stack.reply(tx, 200, 'OK', { headers: { Expires: '0' } });
      await this.notifyFull(sub, 'terminated;reason=timeout');
      return;
    }
    this.arm(sub, expires);
    this.stack.reply(tx, 200, 'OK', { headers: { Expires: String(expires), Contact: sub.dialog.state.localContact } });
    await this.notifyFull(sub, `active;expires=${expires}`);
  }

  private checkAccept(req: SipRequest): void {
    const accept = req.headers.all('accept');
    if (accept.length > 0 && !accept.join(',').toLowerCase().includes(XCAP_DIFF_TYPE)) {
      throw new SipError(406, 'Not Acceptable', { Accept: XCAP_DIFF_TYPE });
    }
  }

  private expiresOf(req: SipRequest): number {
    const asked = expiresValue(req.headers.get('expires')) ?? this.opts.defaultExpires;
    return grantedExpires(asked, { min: this.opts.minExpires, max: this.opts.maxExpires });
  }

  /** The documents a SUBSCRIBE body names (RFC 5875 §4.1), each inside the subscriber's own tree. */
  private resourcesOf(req: SipRequest, owner: string): string[] {
    const ownFolder = (auid: string) => `${auid}/users/${owner}/`;
    if (req.body.length === 0) return ['*'];
    if (mediaTypeOf(req.headers.get('content-type')) !== 'application/resource-lists+xml') throw new SipError(415, 'Unsupported Media Type', { Accept: 'application/resource-lists+xml' });
    const doc = new DOMParser().parseFromString(req.body.toString('utf8'), 'text/xml');
    const out: string[] = [];
    const entries = doc.getElementsByTagNameNS(RL, 'entry');
    for (let i = 0; i < entries.length; i++) {
      let uri = entries[i].getAttribute('uri') ?? '';
      if (uri.startsWith(this.opts.xcapRootUrl)) uri = uri.slice(this.opts.xcapRootUrl.length);
      else if (/^https?:/.test(uri)) {
        try {
          uri = new URL(uri).pathname.replace(this.opts.xcapRootPath, '');
        } catch {
          throw new SipError(400, `Bad XCAP URI in the body: ${uri}`);
        }
      }
      uri = decodeURIComponent(uri.replace(/^\//, ''));
      const auid = uri.split('/')[0];
      if (!uri.startsWith(ownFolder(auid)) && !uri.startsWith(`${auid}/global/`)) throw new SipError(403, `Not your document: ${uri}`);
      out.push(uri);
    }
    return out.length > 0 ? out : ['*'];
  }

  private matches(sub: Subscription, auid: string, owner: string, path: string): boolean {
    const sel = `${auid}/${owner === '' ? 'global' : `users/${owner}`}/${path}`;
    if (owner !== '' && owner !== sub.owner) return false;
    return sub.resources.some((r) => (r === '*' ? owner === sub.owner : r.endsWith('/') ? sel.startsWith(r) : sel === r));
  }

  private arm(sub: Subscription, expires: number): void {
    if (sub.timer) clearTimeout(sub.timer);
    sub.expiresAt = Date.now() + expires * 1000;
    sub.timer = setTimeout(() => {
      this.end(sub);
      this.notifyFull(sub, 'terminated;reason=timeout').catch((err: unknown) => this.log.error({ err, owner: sub.owner }, 'xcap-diff: final NOTIFY failed'));
    }, expires * 1000);
    sub.timer.unref();
  }

  private end(sub: Subscription): void {
    if (sub.timer) clearTimeout(sub.timer);
    if (this.subs.delete(sub.dialog.id)) this.countFlow(sub, -1);
  }

  private remaining(sub: Subscription): number {
    return Math.max(0, Math.round((sub.expiresAt - Date.now()) / 1000));
  }

  /**
   * The full state: every watched document with its ETag (RFC 5875 §4.3). It goes out before any
   * change NOTIFY; a change committed while it was being read is covered by sending it again.
   */
  private async notifyFull(sub: Subscription, state: string): Promise<void> {
    for (;;) {
      sub.missed = false;
      const docs = await this.docs.listOwner(sub.owner);
      const lines = docs
        .filter((d) => this.matches(sub, d.auid, sub.owner, d.path))
        .map((d) => `  <document new-etag="${escapeAttr(d.etag)}" sel="${escapeAttr(`${d.auid}/users/${sub.owner}/${d.path}`)}"/>\n`);
      const live = this.subs.get(sub.dialog.id) === sub;
      this.send(sub, live && !state.startsWith('terminated') ? `active;expires=${this.remaining(sub)}` : state, lines.join(''));
      sub.ready = true;
      if (!sub.missed || !live) return;
    }
  }

  private onChange(change: DocumentChange): void {
    for (const sub of this.subs.values()) {
      if (!this.matches(sub, change.auid, change.owner, change.path)) continue;
      if (!sub.ready) {
        sub.missed = true;
        continue;
      }
      const sel = `${change.auid}/${change.owner === '' ? 'global' : `users/${change.owner}`}/${change.path}`;
      const prev = change.previousEtag === null ? '' : ` previous-etag="${escapeAttr(change.previousEtag)}"`;
      const next = change.newEtag === null ? '' : ` new-etag="${escapeAttr(change.newEtag)}"`;
      this.send(sub, `active;expires=${this.remaining(sub)}`, `  <document${prev}${next} sel="${escapeAttr(sel)}"/>\n`);
    }
  }

  private send(sub: Subscription, state: string, documents: string): void {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<xcap-diff xmlns="urn:ietf:params:xml:ns:xcap-diff" xcap-root="${escapeAttr(this.opts.xcapRootUrl)}">\n${documents}</xcap-diff>\n`;
    const headers: Record<string, string> = { Event: 'xcap-diff', 'Subscription-State': state };
    if (this.stack.userAgent) headers['User-Agent'] = this.stack.userAgent;
    const notify = sub.dialog.request('NOTIFY', headers, { type: XCAP_DIFF_TYPE, content: body });
    this.stack.sendRequest(notify, sub.dialog.state.destination, {
      onFinal: (res) => {
        // RFC 6665 §4.2.2: a 481 or other failure to a NOTIFY ends the subscription
        if (res.status >= 300) this.end(sub);
      },
      onTimeout: () => this.end(sub),
      onTransportError: () => this.end(sub),
    });
    this.log.debug({ owner: sub.owner, state }, 'xcap-diff NOTIFY sent');
  }
}

