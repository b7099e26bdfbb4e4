import { parseCpim } from '../im/controlling/cpim.js';
import type { ReadMessage } from './conversation-store.js';
import { mediaType } from './stored-text.js';

/**
 * A stored message as a replay sends it (RFC 3862): message/cpim whose From and To are the
 * original sender and recipients, and whose `DateTime:` is the time the server stored it (§3.3:
 * the time the message was sent; for a replay that is the server's record of it, the same time
 * the HTTP API and im-history show). A message that was CPIM when stored keeps its content and
 * its imdn.Message-ID (RFC 5438 §6.3), so a client can match it to the message it already has;
 * its other CPIM headers (notification requests among them) are not replayed: a replay asks for
 * no receipts.
 */
export function replayCpim(m: ReadMessage): Buffer {
  let contentType = m.contentType;
  let body = m.body;
  if (mediaType(m.contentType) === 'message/cpim') {
    const inner = parseCpim(m.body);
    if (inner !== null) {
      contentType = inner.contentType;
      body = inner.body;
    }
  }
  const lines = [`From: <${m.sender}>`, ...m.recipients.map((r) => `To: <${r}>`), `DateTime: ${new Date(m.storedAt).toISOString()}`];
  if (m.messageId !== null) lines.push('NS: imdn <urn:ietf:params:imdn>', `imdn.Message-ID: ${m.messageId}`);
  const head = `${lines.join('\r\n')}\r\n\r\nContent-Type: ${contentType}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), body]);
}
