/** A message/cpim message (RFC 3862): who sent it to whom, and the content it wraps. */
export interface CpimMessage {
  from: string | null;
  to: string | null;
  /** the sender's DateTime, as written */
  dateTime: string | null;
  contentType: string;
  body: Buffer;
  /**
   * The sender's other header lines, as written: message headers (NS, imdn.Message-ID,
   * imdn.Disposition-Notification …) and content headers (Content-Disposition …). A relay
   * passes them on (RFC 5438 §6 headers must reach the recipient for its notifications).
   */
  passOn: { headers: string[]; contentHeaders: string[] };
}

/**
 * Wraps content in message/cpim (RFC 3862 §2): the message headers (From, To, DateTime), a blank
 * line, the encapsulated MIME headers (Content-Type), a blank line, the content. The URIs are the
 * room's view: From the sender (with their nickname, when they chose one), To the room or the one
 * private recipient (RFC 7701 §8).
 */
export function wrapCpim(from: string, to: string, contentType: string, body: Buffer, at: Date | string = new Date(), fromName?: string, passOn?: CpimMessage['passOn']): Buffer {
  // RFC 7701: the sender's nickname is the display name (CPIM Formal-name, a quoted String, RFC 3862 §3.6 and §4.1)
  const name = fromName === undefined ? '' : `"${fromName.replace(/[\\"]/g, (c) => `\\${c}`)}" `;
  const more = (lines: string[] | undefined) => (lines ?? []).map((l) => `${l}\r\n`).join('');
  const when = typeof at === 'string' ? at : at.toISOString();
  const head = `From: ${name}<${from}>\r\nTo: <${to}>\r\nDateTime: ${when}\r\n${more(passOn?.headers)}\r\nContent-Type: ${contentType}\r\n${more(passOn?.contentHeaders)}\r\n`;
  return Buffer.concat([Buffer.from(head), body]);
}

/** The first `<uri>` of a CPIM From or To value (a display name may precede it). */
function uriOf(value: string): string | null {
  const m = /<([^>]*)>/.exec(value);
  return m ? m[1].trim() : null;
}

/**
 * Reads a message/cpim body (RFC 3862 §2). Null when it is not well-formed: no blank line
 * after the message headers, or none after the content headers.
 */
export function parseCpim(raw: Buffer): CpimMessage | null {
  const first = raw.indexOf('\r\n\r\n');
  if (first < 0) return null;
  const second = raw.indexOf('\r\n\r\n', first + 4);
  if (second < 0) return null;
  let from: string | null = null;
  let to: string | null = null;
  let dateTime: string | null = null;
  const passOn: CpimMessage['passOn'] = { headers: [], contentHeaders: [] };
  for (const line of raw.subarray(0, first).toString('utf8').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === 'from') from = uriOf(line.slice(colon + 1));
    else if (name === 'to') to ??= uriOf(line.slice(colon + 1));
    else if (name === 'datetime') dateTime ??= line.slice(colon + 1).trim();
    else passOn.headers.push(line);
  }
  let contentType = 'text/plain';
  for (const line of raw.subarray(first + 4, second).toString('utf8').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === 'content-type') contentType = line.slice(colon + 1).trim();
    // the length is of the content as sent; the relay writes no other length
    else if (name !== 'content-length') passOn.contentHeaders.push(line);
  }
  return { from, to, dateTime, contentType, body: raw.subarray(second + 4), passOn };
}
