import type { Member } from '../../xdms/list-resolver.js';

/** The URI an anonymized recipient is shown as (RFC 3323 §4.1.1.3's anonymous URI). */
export const ANONYMOUS_URI = 'sip:anonymous@anonymous.invalid';
/** The disposition of the list a copy carries: who else it went to (RFC 5365). */
export const HISTORY_DISPOSITION = 'recipient-list-history';

const RL = 'urn:ietf:params:xml:ns:resource-lists';
const CP = 'urn:ietf:params:xml:ns:copycontrol';

const escapeXml = (v: string): string => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The recipient list every copy discloses (RFC 5364, RFC 5365): the sender's `to` and `cc`
 * entries, in the sender's order, each with its copyControl. `bcc` entries are never in it, so
 * no recipient (bcc or not) learns of a bcc recipient. An entry marked `anonymize` is not shown
 * by its URI: per copy-control level, the anonymized recipients become one entry with the
 * anonymous URI and `cp:count` saying how many there were, so the others see that someone got
 * a copy but not who. Null when the sender's list used no copy control at all: such a list
 * asked for nothing to be disclosed, and its recipients get the message alone, as before.
 * Entries without copyControl in a list that uses it count as `to` (RFC 5364's default).
 */
export function historyList(members: Member[]): string | null {
  if (!members.some((m) => m.copy !== undefined)) return null;
  const entries: string[] = [];
  const anonymized = { to: 0, cc: 0 };
  for (const m of members) {
    const control = m.copy?.control ?? 'to';
    if (control === 'bcc') continue;
    if (m.copy?.anonymize) {
      anonymized[control]++;
      continue;
    }
    const name = m.display !== null ? `<display-name>${escapeXml(m.display)}</display-name>` : '';
    entries.push(`<entry uri="${escapeXml(m.uri)}" cp:copyControl="${control}"${name ? `>${name}</entry>` : '/>'}`);
  }
  for (const control of ['to', 'cc'] as const) {
    if (anonymized[control] > 0) entries.push(`<entry uri="${ANONYMOUS_URI}" cp:copyControl="${control}" cp:count="${anonymized[control]}"/>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\r\n<resource-lists xmlns="${RL}" xmlns:cp="${CP}"><list>${entries.join('')}</list></resource-lists>\r\n`;
}

/**
 * A body that carries the history beside the content: multipart/mixed (RFC 2046 §5.1.3) with
 * the content first and the list as `application/resource-lists+xml` with Content-Disposition
 * `recipient-list-history; handling=optional` (RFC 5365; optional, so a recipient that does not
 * know the disposition still takes the message, RFC 3204 §4.1).
 */
export function withHistory(contentType: string, payload: Buffer, history: string, boundary: string): { contentType: string; body: Buffer } {
  const head = `--${boundary}\r\nContent-Type: ${contentType}\r\n\r\n`;
  const list = `\r\n--${boundary}\r\nContent-Type: application/resource-lists+xml\r\nContent-Disposition: ${HISTORY_DISPOSITION}; handling=optional\r\n\r\n${history}\r\n--${boundary}--\r\n`;
  return { contentType: `multipart/mixed;boundary=${boundary}`, body: Buffer.concat([Buffer.from(head), payload, Buffer.from(list)]) };
}
