import { MsrpError } from './msrp-types.js';

/**
 * The NICKNAME method of RFC 7701, protocol only: a participant asks the chat room's MSRP
 * switch to reserve a nickname, carried in a Use-Nickname header. What the switch decides (200,
 * 424, 425) is the room's business; this module only reads and writes the request.
 *
 * RFC 7701 (formal syntax): `Use-Nickname = "Use-Nickname:" SP nickname` with
 * `nickname = quoted-string`, the quoted-string of RFC 4975 §9:
 * `DQUOTE *(qdtext / qd-esc) DQUOTE`, `qdtext = SP / HTAB / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII`,
 * `qd-esc = BACKSLASH BACKSLASH / BACKSLASH DQUOTE`.
 */

/** A NICKNAME request received, and how to answer it (RFC 7701: 200, 424, 425, 403 …). */
export interface NicknameRequest {
  /** the nickname as sent, unescaped (UTF-8 decoded) */
  nickname: string;
  /** answers the request; call once */
  respond(status: number, comment?: string): void;
}

/** The header that carries the nickname (RFC 7701), as our header map spells it. */
export const USE_NICKNAME = 'use-nickname';

/**
 * Reads a Use-Nickname value. `raw` is the header text as framed (bytes read as latin1, so UTF-8
 * comes back as it was sent). A value that is not a quoted-string (control characters, a lone
 * backslash, no quotes, or bytes that are not UTF-8) is a 424 "Malformed nickname" (RFC 7701
 * §6.1 / the IANA MSRP status registry).
 *
 * @example
 * parseUseNickname('"Alice \\"A\\" L"') // -> 'Alice "A" L'
 */
export function parseUseNickname(raw: string): string {
  const bytes = Buffer.from(raw.trim(), 'latin1');
  const text = bytes.toString('utf8');
  // a byte sequence that is not UTF-8 decodes to U+FFFD (UTF8-NONASCII is UTF-8 only)
  if (text.includes('\uFFFD') || text.length < 2 || !text.startsWith('"') || !text.endsWith('"')) throw new MsrpError(424, 'Malformed nickname');
  let out = '';
  for (let i = 1; i < text.length - 1; i++) {
    const c = text[i];
    const code = c.codePointAt(0)!;
    if (c === '\\') {
      const next = text[i + 1];
      if ((next !== '\\' && next !== '"') || i + 1 >= text.length - 1) throw new MsrpError(424, 'Malformed nickname');
      out += next;
      i++;
      continue;
    }
    // qdtext: no controls (other than HTAB), no bare DQUOTE, no DEL
    if (c === '"' || code === 0x7f || (code < 0x20 && code !== 0x09)) throw new MsrpError(424, 'Malformed nickname');
    out += c;
  }
  return out;
}

/** Writes a nickname as a Use-Nickname value: a quoted-string with `\` and `"` escaped (RFC 4975 §9 qd-esc). */
export function formatUseNickname(nickname: string): string {
  return `"${nickname.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
