import { DOMParser } from '@xmldom/xmldom';
import type { SipRequest } from '../sip/message/message.js';
import { SipError } from '../sip/errors.js';
import { mediaTypeOf } from '../sip/message/media-type.js';
import type { LocalDomain } from '../core/local-domain.js';
import type { EventPackage, NotifyBody, Opened, Subscriber } from '../events/event-package.js';
import type { Subscription } from '../events/subscription.js';
import type { SubscriptionService } from '../events/subscription-service.js';
import type { DocumentStore, DocumentChange } from './document-store.js';
import { escapeAttr } from './xcap-error.js';

const XCAP_DIFF_TYPE = 'application/xcap-diff+xml';
const RL = 'urn:ietf:params:xml:ns:resource-lists';

export interface XcapDiffOptions {
  /** the absolute XCAP root clients use, e.g. http://host:8080/xcap-root */
  xcapRootUrl: string;
  /** the path part of it, e.g. /xcap-root */
  xcapRootPath: string;
  /** an owner's documents that are generated, not stored (xcap-view.ts), for the full state */
  generated?: (owner: string) => Promise<{ auid: string; path: string; etag: string }[]>;
}

/** What one xcap-diff subscription watches, and the changes not yet sent. */
interface XcapDiffData {
  /** XCAP paths below the root; one ending in "/" is a folder (RFC 5875 §4.1); "*" for all of the owner's */
  resources: string[];
  /** `<document>` lines of changes since the last NOTIFY */
  pending: string[];
}

/**
 * The xcap-diff event package (RFC 5875 on RFC 6665, X4), on the shared subscription framework:
 * a user subscribes to their documents (all of them, or those a resource-lists body names) and
 * is sent the full state first, then an xcap-diff document with the changes made from any device.
 */
export class XcapDiffPackage implements EventPackage<XcapDiffData> {
  readonly event = 'xcap-diff';
  readonly accept = [XCAP_DIFF_TYPE];
  /** document changes are reported as they come: a client must not miss an ETag it needs for its next write */
  readonly minNotifyInterval = 0;

  constructor(
    private readonly subscriptions: SubscriptionService,
    private readonly docs: DocumentStore,
    private readonly domain: LocalDomain,
    private readonly opts: XcapDiffOptions,
  ) {
    docs.onChange((change) => this.onChange(change));
  }

  /** Only one's own documents (RFC 5875 §4.1 leaves authorisation to policy; ours: own tree and global). */
  open(req: SipRequest, subscriber: Subscriber): Opened<XcapDiffData> {
    const target = req.sipUri;
    if (target === null || target.user?.toLowerCase() !== subscriber.username) throw new SipError(403, 'Only your own documents can be watched');
    return { resource: subscriber.aor, state: 'active', data: { resources: this.resourcesOf(req, subscriber.aor), pending: [] } };
  }

  /** The full state: every watched document with its ETag (RFC 5875 §4.3); else the changes since the last NOTIFY. */
  async render(sub: Subscription<XcapDiffData>, full: boolean): Promise<NotifyBody> {
    let lines: string[];
    if (full) {
      sub.data.pending = [];
      const docs = [...(await this.docs.listOwner(sub.resource)), ...((await this.opts.generated?.(sub.resource)) ?? [])];
      lines = docs
        .filter((d) => matches(sub.data.resources, sub.resource, d.auid, sub.resource, d.path))
        .map((d) => `  <document new-etag="${escapeAttr(d.etag)}" sel="${escapeAttr(`${d.auid}/users/${sub.resource}/${d.path}`)}"/>\n`);
    } else {
      lines = sub.data.pending;
      sub.data.pending = [];
    }
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<xcap-diff xmlns="urn:ietf:params:xml:ns:xcap-diff" xcap-root="${escapeAttr(this.opts.xcapRootUrl)}">\n${lines.join('')}</xcap-diff>\n`;
    return { type: XCAP_DIFF_TYPE, content: body };
  }

  persist(data: XcapDiffData): unknown {
    return { resources: data.resources };
  }

  revive(saved: unknown): XcapDiffData {
    const resources = (saved as { resources?: unknown }).resources;
    if (!Array.isArray(resources)) throw new Error('no resources');
    return { resources: resources.map(String), pending: [] };
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

  /** A generated document changed (xcap-view.ts): told like a stored one. */
  generatedChanged(change: DocumentChange): void {
    this.onChange(change);
  }

  private onChange(change: DocumentChange): void {
    const candidates = change.owner === '' ? this.subscriptions.allOf(this.event) : this.subscriptions.watchersOf(this.event, change.owner);
    for (const sub of candidates as Subscription<XcapDiffData>[]) {
      if (!matches(sub.data.resources, sub.resource, change.auid, change.owner, change.path)) continue;
      const sel = `${change.auid}/${change.owner === '' ? 'global' : `users/${change.owner}`}/${change.path}`;
      const prev = change.previousEtag === null ? '' : ` previous-etag="${escapeAttr(change.previousEtag)}"`;
      const next = change.newEtag === null ? '' : ` new-etag="${escapeAttr(change.newEtag)}"`;
      sub.data.pending.push(`  <document${prev}${next} sel="${escapeAttr(sel)}"/>\n`);
      this.subscriptions.changed(sub);
    }
  }
}

/** Whether a subscription watching `resources` of `subOwner` covers this document. */
function matches(resources: string[], subOwner: string, auid: string, owner: string, path: string): boolean {
  const sel = `${auid}/${owner === '' ? 'global' : `users/${owner}`}/${path}`;
  if (owner !== '' && owner !== subOwner) return false;
  return resources.some((r) => (r === '*' ? owner === subOwner : r.endsWith('/') ? sel.startsWith(r) : sel === r));
}
