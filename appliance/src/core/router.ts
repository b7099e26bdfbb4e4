import type { SipRequest } from '../sip/message/message.js';
import type { ServerTransaction } from '../sip/transaction/server-transaction.js';
import type { SipStack, StackUser } from '../sip/stack.js';
import { SipError } from '../sip/errors.js';
import { isSipUri } from '../sip/message/uri.js';
import type { Logger } from '../log.js';
import type { Authenticator } from './authenticator.js';
import type { Registrar } from './registrar.js';
import type { LocationService } from './location-service.js';
import type { LocalDomain } from './local-domain.js';
import type { UserDirectory } from './user-directory.js';
import type { MessageHandler } from '../im/pager/message-handler.js';
import type { TerminatingPolicy } from '../im/participating/terminating-policy.js';
import type { XcapDiffNotifier } from '../xdms/xcap-diff.js';

/** Methods we handle; everything else gets 405 with this list (RFC 3261 §21.4.6). */
export const ALLOW = ['REGISTER', 'MESSAGE', 'OPTIONS', 'SUBSCRIBE', 'ACK', 'CANCEL'];
/** Event packages we are a notifier for (RFC 6665 §8.2.2). */
export const ALLOW_EVENTS = ['xcap-diff'];
/** Bodies we take (MESSAGE bodies are relayed whatever their type). */
export const ACCEPT = ['text/plain', 'message/cpim', 'application/im-iscomposing+xml', '*/*'];
/** Option tags we support; a Require naming any other gets 420 (RFC 3261 §8.2.2.3). */
export const SUPPORTED: string[] = [];

/**
 * The SIP/IP core's request routing: it authenticates, picks the function
 * (registrar, server UAS, pager IM), and turns every SipError into its response.
 */
export class Router implements StackUser {
  constructor(
    private readonly stack: SipStack,
    private readonly domain: LocalDomain,
    private readonly users: UserDirectory,
    private readonly auth: Authenticator,
    private readonly registrar: Registrar,
    private readonly location: LocationService,
    private readonly pager: MessageHandler,
    private readonly policy: TerminatingPolicy,
    private readonly xcapDiff: XcapDiffNotifier,
    private readonly log: Logger,
  ) {}

  onRequest(req: SipRequest, tx: ServerTransaction | null): void {
    if (tx === null) return; // an ACK for a 2xx: no dialogs end here yet
    this.dispatch(req, tx).catch((err: unknown) => this.fail(tx, err));
  }

  onFlowClosed(flowId: string): void {
    this.location.flowClosed(flowId).catch((err: unknown) => this.log.warn({ err }, 'flow cleanup failed'));
  }

  private fail(tx: ServerTransaction, err: unknown): void {
    if (err instanceof SipError) {
      this.stack.reply(tx, err.status, err.reason, { headers: err.headers });
      return;
    }
    this.log.error({ err, method: tx.request.method }, 'request failed');
    this.stack.reply(tx, 500, 'Server Internal Error');
  }

  private async dispatch(req: SipRequest, tx: ServerTransaction): Promise<void> {
    const ruri = req.uri;
    // RFC 3261 §8.2.2.1 / §16.3 step 2: a scheme we cannot route (RFC 4475 unkscm, novelsc)
    if (!isSipUri(ruri)) throw new SipError(416, 'Unsupported URI Scheme');
    const forUs = this.domain.isLocal(ruri.host);
    if (req.method === 'REGISTER') {
      this.checkRequire(req);
      await this.registrar.handle(req, tx);
      return;
    }
    if (forUs && ruri.user === null) {
      this.serveLocally(req, tx);
      return;
    }
    // RFC 3261 §16.3 steps 3 and 4: hop count, then loops
    if (req.maxForwards === 0) throw new SipError(483, 'Too Many Hops');
    if (this.isLoop(req)) throw new SipError(482, 'Loop Detected');
    this.checkProxyRequire(req);
    if (!forUs) {
      this.checkRequire(req);
      throw new SipError(403, 'Relaying to other domains is not enabled');
    }
    switch (req.method) {
      case 'MESSAGE':
        await this.message(req, tx, ruri.user!);
        return;
      case 'BYE':
        throw new SipError(481, 'Call/Transaction Does Not Exist');
      case 'SUBSCRIBE':
        await this.subscribe(req, tx);
        return;
      case 'OPTIONS':
        this.serveLocally(req, tx);
        return;
      default:
        throw new SipError(405, 'Method Not Allowed', { Allow: ALLOW.join(', ') });
    }
  }

  /** Requests to the server itself: OPTIONS probes get our capabilities (RFC 3261 §11.2). */
  private serveLocally(req: SipRequest, tx: ServerTransaction): void {
    this.checkRequire(req);
    if (req.method === 'OPTIONS') {
      this.stack.reply(tx, 200, 'OK', {
        headers: { Allow: ALLOW.join(', '), Accept: ACCEPT.join(', '), Supported: SUPPORTED.join(', '), 'Accept-Encoding': 'identity', 'Allow-Events': ALLOW_EVENTS.join(', ') },
      });
      return;
    }
    if (req.method === 'BYE') throw new SipError(481, 'Call/Transaction Does Not Exist');
    throw new SipError(405, 'Method Not Allowed', { Allow: ALLOW.join(', ') });
  }

  private async message(req: SipRequest, tx: ServerTransaction, recipientPart: string): Promise<void> {
    const sender = this.auth.authenticate(req, false);
    const from = req.from.uri;
    // the identity a recipient sees is the authenticated one: a forged From is refused
    if (!isSipUri(from) || from.user !== sender.username || !this.domain.isLocal(from.host)) {
      throw new SipError(403, 'From does not match the authenticated user');
    }
    const recipient = this.users.get(decodeURIComponentSafe(recipientPart));
    if (recipient === undefined) throw new SipError(404, 'Not Found');
    if (recipient.disabled) throw new SipError(480, 'Recipient is not available');
    this.checkRequire(req);
    const senderAor = this.domain.aor(sender.username);
    // the recipient's block list (Y2): 403 for block, a silent 202 for polite-block
    if ((await this.policy.check(recipient.username, senderAor)) === 'discard') {
      this.stack.reply(tx, 202, 'Accepted');
      return;
    }
    const { delivery } = await this.policy.preferences(recipient.username);
    await this.pager.handle(req, tx, senderAor, recipient.username, delivery === 'store');
  }

  /** SUBSCRIBE (RFC 6665): xcap-diff for one's own documents; refreshes go to their dialog. */
  private async subscribe(req: SipRequest, tx: ServerTransaction): Promise<void> {
    if (req.toTag !== undefined) {
      // in a dialog: its identifiers are what authorises it (the initial SUBSCRIBE was authenticated)
      if (!this.xcapDiff.owns(req)) throw new SipError(481, 'Subscription Does Not Exist');
      await this.xcapDiff.refresh(req, tx);
      return;
    }
    const event = (req.headers.get('event') ?? '').split(';')[0].trim().toLowerCase();
    if (!ALLOW_EVENTS.includes(event)) throw new SipError(489, 'Bad Event', { 'Allow-Events': ALLOW_EVENTS.join(', ') });
    const user = this.auth.authenticate(req, false);
    this.checkRequire(req);
    await this.xcapDiff.subscribe(req, tx, user.username);
  }

  private checkRequire(req: SipRequest): void {
    const unsupported = req.tokens('require').filter((t) => !SUPPORTED.includes(t));
    if (unsupported.length > 0) throw new SipError(420, 'Bad Extension', { Unsupported: unsupported.join(', ') });
  }

  private checkProxyRequire(req: SipRequest): void {
    const unsupported = req.tokens('proxy-require').filter((t) => !SUPPORTED.includes(t));
    if (unsupported.length > 0) throw new SipError(420, 'Bad Extension', { Unsupported: unsupported.join(', ') });
  }

  /** RFC 3261 §16.3 step 4: a Via with a branch we made means the request came back to us. */
  private isLoop(req: SipRequest): boolean {
    return req.vias.some((v) => this.stack.isOwnBranch(v.branch));
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
