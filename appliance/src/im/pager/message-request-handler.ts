import type { SipRequest } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import { SipAnswer, SipError } from '../../sip/errors.js';
import type { Authenticator } from '../../core/authenticator.js';
import { proxyChallengeAtOnce, sipUserOrAnswer } from '../../core/sip-authentication.js';
import type { AtOnceHandler } from '../../core/router.js';
import { checkRequire } from '../../core/extensions.js';
import { userOfUriPart } from '../../core/user-names.js';
import type { UserDirectory } from '../../core/user-directory.js';
import type { OriginatingPolicy, SenderIdentity } from '../participating/originating-policy.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { TerminatingPolicy } from '../participating/terminating-policy.js';
import type { MessageHandler } from './message-handler.js';
import type { ListResolver } from '../../xdms/list-resolver.js';
import { MessageExploder } from '../controlling/message-exploder.js';
import { readRecipientList } from '../controlling/recipient-list.js';
import type { ProfilePolicy } from '../participating/profile-policy.js';
import { isImdn } from '../imdn/imdn-request.js';
import type { UserRow } from '../../store/entities.js';

/** RFC 5365 §6: the option tag a sender may require of a MESSAGE URI-list service. */
const RECIPIENT_LIST_MESSAGE = 'recipient-list-message';

/**
 * A pager-mode MESSAGE to one of our users, along the OMA roles (seed 5.4): the core
 * authenticates the sender, the sender's participating function decides what identity
 * recipients see, the recipient's participating function applies their block list and
 * delivery preference, and the pager delivers it or stores it.
 */
export class MessageRequestHandler {
  /** the users' service profiles (Y1, Y3); null: every user may do everything */
  profiles: ProfilePolicy | null = null;

  constructor(
    private readonly auth: Authenticator,
    private readonly users: UserDirectory,
    private readonly domain: LocalDomain,
    private readonly originating: OriginatingPolicy,
    private readonly terminating: TerminatingPolicy,
    private readonly pager: MessageHandler,
    private readonly lists: ListResolver,
    private readonly exploder: MessageExploder,
  ) {
    this.challengeAtOnce = proxyChallengeAtOnce(auth);
  }

  readonly handle = (req: SipRequest, tx: ServerTransaction): Promise<void> | SipAnswer => {
    // the challenge (the first half of nearly every call) is returned, not thrown
    const user = sipUserOrAnswer(this.auth, req, tx.source, false);
    return user instanceof SipAnswer ? user : this.authenticated(req, tx, user);
  };

  /**
   * The challenge to a MESSAGE without credentials, before the stack makes a transaction for it:
   * `handle` would answer it the same way, first thing (RFC 3261 §22.3).
   */
  readonly challengeAtOnce: AtOnceHandler;

  private async authenticated(req: SipRequest, tx: ServerTransaction, user: UserRow): Promise<void> {
    const sender = this.originating.identify(req, user);
    const part = req.sipUri?.user ?? null;
    const name = part === null ? null : userOfUriPart(part);
    const recipient = name === null ? undefined : this.users.get(name);
    if (recipient === undefined && name !== null) {
      await this.toListService(req, tx, sender, name);
      return;
    }
    if (recipient === undefined) throw new SipError(404, 'Not Found');
    try {
      if (recipient.disabled) throw new SipError(480, 'Recipient is not available');
      checkRequire(req);
      // Y1/Y3: both users' profiles (IM allowed, size, content type) before anything is delivered or stored
      this.profiles?.checkPager(sender.username, recipient.username, req.headers.get('content-type') ?? 'text/plain', req.body);
      // the recipient's block list (Y2): 403 for block, a silent 202 for polite-block
      // cached documents are read without a promise (two fewer turns of the microtask queue per MESSAGE)
      const handling = this.terminating.checkCached(recipient.username, sender.aor) ?? (await this.terminating.check(recipient.username, sender.aor));
      if (handling === 'discard') {
        this.pager.acceptSilently(tx);
        this.refused(req, sender, recipient.username, 202, 'Discarded (polite block)');
        return;
      }
      const { delivery } = this.terminating.cachedPreferences(recipient.username) ?? (await this.terminating.preferences(recipient.username));
      await this.pager.handle(req, tx, sender, recipient.username, delivery === 'store');
    } catch (err) {
      // the router answers the error; the record waits only in the recorder's buffer
      if (err instanceof SipError) this.refused(req, sender, recipient.username, err.status, err.reason);
      throw err;
    }
  }

  /** C5: a message refused on its way to one of our users is a usage record too (status: why). */
  private refused(req: SipRequest, sender: SenderIdentity, recipient: string, status: number, reason: string): void {
    this.pager.usage?.record({ kind: 'pager', user: sender.aor, peer: this.domain.aor(recipient), outcome: 'refused', status, reason, bytes: req.body.length });
  }

  /**
   * A MESSAGE to a list service of ours, the controlling function (P3): the conference factory
   * with an RFC 5365 URI list, or a group URI from the shared XDMS (X5). Anything else is 404.
   */
  private async toListService(req: SipRequest, tx: ServerTransaction, sender: SenderIdentity, name: string): Promise<void> {
    const uri = this.domain.aor(name);
    const group = this.exploder.isFactory(name) ? null : await this.lists.groupMembers(uri);
    if (!this.exploder.isFactory(name) && group === null) throw new SipError(404, 'Not Found');
    MessageExploder.guard(req);
    // a recipient's notification about a message this service exploded (RFC 5438 §8)
    if (isImdn(req.headers.get('content-type') ?? '', req.body)) {
      this.exploder.notification(req, tx, sender, uri);
      return;
    }
    // Y1: a list or group MESSAGE is group chat
    this.profiles?.requireGroupChat(sender.username, 'sender');
    const unsupported = req.tokens('require').filter((t) => t !== RECIPIENT_LIST_MESSAGE);
    if (unsupported.length > 0) throw new SipError(420, 'Bad Extension', { Unsupported: unsupported.join(', ') });
    if (group === null) {
      const list = await readRecipientList(req, this.lists);
      // Y3: the sender's own size and type limits, on the message part (not the URI list)
      this.profiles?.checkContent(sender.username, 'sender', list.contentType, list.payload);
      this.exploder.explode(req, tx, sender, uri, list, false);
      return;
    }
    // a private group takes messages from its members only (the group's join rule)
    if (group.membersOnly && !group.members.some((m) => m.uri.toLowerCase() === sender.aor.toLowerCase())) {
      throw new SipError(403, 'Only members may send to this group');
    }
    const message = { contentType: req.headers.get('content-type') ?? 'text/plain', payload: req.body, members: group.members };
    this.profiles?.checkContent(sender.username, 'sender', message.contentType, message.payload);
    this.exploder.explode(req, tx, sender, uri, message, true);
  }
}
