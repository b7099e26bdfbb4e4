import type { SipRequest } from '../../sip/message/message.js';
import { SipError } from '../../sip/errors.js';
import { isSipUri, parseUri, type Uri } from '../../sip/message/uri.js';
import { formatNameAddr } from '../../sip/message/name-addr.js';
import { quote } from '../../sip/message/scanner.js';
import type { LocalDomain } from '../../core/local-domain.js';
import type { UserRow } from '../../store/entities.js';
import { userOfUriPart } from '../../core/user-names.js';

/** Who a message is from, as every recipient is shown it. */
export interface SenderIdentity {
  username: string;
  /** the canonical address of record, sip:user@domain */
  aor: string;
  /** the From header value to forward: the directory's display name (or none), the AOR, the sender's tag */
  from: string;
  /** the P-Asserted-Identity value (RFC 3325 §9.1): the directory's display name and the AOR */
  asserted: string;
}

/**
 * The sender's participating function on the originating side (OMA SIMPLE IM; seed 5.4):
 * what the authenticated sender may claim, and what recipients are shown.
 *
 * The From URI must name the authenticated user (403 otherwise). The display name is not
 * the sender's to choose: a client can write anything there (`"IT admin" <sip:alice@…>`), and
 * recipients' clients show it. So recipients see the directory's display name, or none, in
 * both From and P-Asserted-Identity. RFC 3261 §16.6 has proxies leave From alone; Parley is the
 * IM server on this path, and rewriting only the display name keeps the URI and tag that
 * matching uses (a MESSAGE outside a dialog creates no dialog state from them).
 */
export class OriginatingPolicy {
  /** per user row (a new row when the directory changes): the AOR and the asserted identity, built once */
  private readonly shown = new WeakMap<UserRow, { aor: string; asserted: string; display: string | null; uri: Uri }>();

  constructor(private readonly domain: LocalDomain) {}

  identify(req: SipRequest, sender: UserRow): SenderIdentity {
    const from = req.from;
    const uri = from.uri;
    const claimed = isSipUri(uri) && uri.user !== null ? userOfUriPart(uri.user) : null;
    if (!isSipUri(uri) || claimed !== sender.username || !this.domain.isLocal(uri.host)) {
      throw new SipError(403, 'From does not match the authenticated user');
    }
    const shown = this.shownAs(sender);
    return {
      username: sender.username,
      aor: shown.aor,
      from: formatNameAddr({ display: shown.display, uri: shown.uri, params: from.params }),
      asserted: shown.asserted,
    };
  }

  private shownAs(sender: UserRow): { aor: string; asserted: string; display: string | null; uri: Uri } {
    let shown = this.shown.get(sender);
    if (shown === undefined) {
      const aor = this.domain.aor(sender.username);
      const display = sender.displayName === null ? null : quote(sender.displayName);
      const uri = parseUri(aor);
      shown = { aor, display, uri, asserted: formatNameAddr({ display, uri, params: [] }) };
      this.shown.set(sender, shown);
    }
    return shown;
  }
}
