import type { SipRequest } from '../../sip/message/message.js';
import type { ServerTransaction } from '../../sip/transaction/server-transaction.js';
import { SipError } from '../../sip/errors.js';
import type { Authenticator } from '../../core/authenticator.js';
import { authenticateSip } from '../../core/sip-authentication.js';
import { checkRequire } from '../../core/extensions.js';
import { userOfUriPart } from '../../core/user-names.js';
import type { UserDirectory } from '../../core/user-directory.js';
import type { OriginatingPolicy } from '../participating/originating-policy.js';
import type { TerminatingPolicy } from '../participating/terminating-policy.js';
import type { MessageHandler } from './message-handler.js';

/**
 * A pager-mode MESSAGE to one of our users, along the OMA roles (seed 5.4): the core
 * authenticates the sender, the sender's participating function decides what identity
 * recipients see, the recipient's participating function applies their block list and
 * delivery preference, and the pager delivers it or stores it.
 */
export class MessageRequestHandler {
  constructor(
    private readonly auth: Authenticator,
    private readonly users: UserDirectory,
    private readonly originating: OriginatingPolicy,
    private readonly terminating: TerminatingPolicy,
    private readonly pager: MessageHandler,
  ) {}

  readonly handle = async (req: SipRequest, tx: ServerTransaction): Promise<void> => {
    const sender = this.originating.identify(req, authenticateSip(this.auth, req, tx.source, false));
    const part = req.sipUri?.user ?? null;
    const name = part === null ? null : userOfUriPart(part);
    const recipient = name === null ? undefined : this.users.get(name);
    if (recipient === undefined) throw new SipError(404, 'Not Found');
    if (recipient.disabled) throw new SipError(480, 'Recipient is not available');
    checkRequire(req);
    // the recipient's block list (Y2): 403 for block, a silent 202 for polite-block
    if ((await this.terminating.check(recipient.username, sender.aor)) === 'discard') {
      this.pager.acceptSilently(tx);
      return;
    }
    const { delivery } = await this.terminating.preferences(recipient.username);
    await this.pager.handle(req, tx, sender, recipient.username, delivery === 'store');
  };
}
