import type { ConversationSummary } from '@parley/shared';
import type { ConversationRow } from '../store/entities.js';
import type { ReadMessage } from './conversation-store.js';
import { bodyEncoding, messageView } from './message-view.js';
import { inertCell } from '../util/csv-cell.js';

export type ExportFormat = 'json' | 'csv' | 'html';

/**
 * Writes one export as a stream of small pieces: the head, one piece per message, the tail.
 * The job writes each piece to its file as it goes, so a 10,000-message export never sits in
 * memory as one string.
 */
export interface ExportWriter {
  contentType: string;
  extension: string;
  head(): string;
  message(m: ReadMessage, index: number): string;
  tail(): string;
}

/** The format tag of a JSON export (a reader checks it before trusting the shape). */
export const JSON_EXPORT_FORMAT = 'parley.conversation-export/1';

const iso = (ms: number): string | null => (ms > 0 ? new Date(ms).toISOString() : null);

/** A stored conversation as the console and every export describe it (no bodies). */
export function conversationSummary(c: ConversationRow): ConversationSummary {
  return {
    id: c.publicId,
    owner: c.owner,
    kind: c.kind,
    name: c.name,
    peers: JSON.parse(c.peers) as string[],
    firstAt: iso(c.firstAt),
    lastAt: iso(c.lastAt),
    messageCount: c.messageCount,
    bytes: c.bytes,
    recording: c.recording,
  };
}

/** The conversation as every format describes it: its summary and when it was exported. */
function header(c: ConversationRow, exportedAt: number) {
  return { ...conversationSummary(c), exportedAt: new Date(exportedAt).toISOString() };
}

/** A stored message in the JSON export: every field, the body as UTF-8 text or base64 (lossless). */
export function jsonMessage(m: ReadMessage) {
  const encoding = bodyEncoding(m.contentType, m.body);
  return {
    id: m.id,
    sender: m.sender,
    recipients: m.recipients,
    contentType: m.contentType,
    storedAt: new Date(m.storedAt).toISOString(),
    storedAtMs: m.storedAt,
    bytes: m.bytes,
    messageId: m.messageId,
    bodyEncoding: encoding,
    body: encoding === 'utf-8' ? m.body.toString('utf8') : m.body.toString('base64'),
  };
}

function jsonWriter(c: ConversationRow, now: number): ExportWriter {
  return {
    contentType: 'application/json; charset=utf-8',
    extension: 'json',
    head: () => `{"format":${JSON.stringify(JSON_EXPORT_FORMAT)},"conversation":${JSON.stringify(header(c, now))},"messages":[`,
    message: (m, i) => `${i === 0 ? '' : ','}\n${JSON.stringify(jsonMessage(m))}`,
    tail: () => '\n]}\n',
  };
}

/**
 * One CSV field (RFC 4180 §2): quoted when it holds a quote, a comma, CR or LF, with each quote
 * doubled. A text cell that a spreadsheet would read as a formula (= + - @ TAB CR first) gets a
 * single quote in front (util/csv-cell.ts, OWASP): CSV is for people; the JSON export is the
 * lossless one.
 */
export function csvField(v: string | number | null): string {
  const s = v === null ? '' : typeof v === 'number' ? String(v) : inertCell(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 §2: records end with CRLF. */
const csvRow = (fields: (string | number | null)[]): string => `${fields.map(csvField).join(',')}\r\n`;

export const CSV_COLUMNS = ['id', 'storedAt', 'sender', 'recipients', 'contentType', 'messageId', 'bytes', 'text', 'bodyEncoding', 'body'] as const;

function csvWriter(): ExportWriter {
  return {
    contentType: 'text/csv; charset=utf-8; header=present',
    extension: 'csv',
    // the UTF-8 byte order mark: spreadsheet programs otherwise read the file in a legacy code page
    head: () => `\uFEFF${csvRow([...CSV_COLUMNS])}`,
    message: (m) => {
      const encoding = bodyEncoding(m.contentType, m.body);
      return csvRow([
        m.id,
        new Date(m.storedAt).toISOString(),
        m.sender,
        m.recipients.join(' '),
        m.contentType,
        m.messageId,
        m.bytes,
        messageView(m.contentType, m.body).text,
        encoding,
        encoding === 'utf-8' ? m.body.toString('utf8') : m.body.toString('base64'),
      ]);
    },
    tail: () => '',
  };
}

/** Text made safe for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

const READABLE = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', dateStyle: 'full', timeStyle: 'long' });

/** A time as people read it (UTC, so the transcript says the same wherever it is opened). */
export const readableTime = (ms: number): string => READABLE.format(new Date(ms));

const STYLE = `body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:52rem;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}
ol{list-style:none;padding:0}li{border-top:1px solid #d0d7de;padding:.6rem 0}
.meta{color:#57606a;font-size:.85rem}.sender{font-weight:600}.text{white-space:pre-wrap;margin:.3rem 0 0}
.other{font-style:italic;color:#57606a}@media print{body{margin:0}li{break-inside:avoid}}`;

function htmlWriter(c: ConversationRow, now: number): ExportWriter {
  const h = header(c, now);
  const when = (ms: number) => `<time datetime="${new Date(ms).toISOString()}">${escapeHtml(readableTime(ms))}</time> <span class="iso">(${new Date(ms).toISOString()})</span>`;
  return {
    contentType: 'text/html; charset=utf-8',
    extension: 'html',
    head: () =>
      `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
      // self-contained: no script, no outside resource (the CSP says so to a browser that opens it)
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">\n` +
      `<title>${escapeHtml(h.name)}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n<h1>${escapeHtml(h.name)}</h1>\n<dl>` +
      `<dt>Owner</dt><dd>${escapeHtml(h.owner)}</dd><dt>With</dt><dd>${escapeHtml(h.peers.join(', '))}</dd><dt>Kind</dt><dd>${escapeHtml(h.kind)}</dd>` +
      `<dt>Messages</dt><dd>${h.messageCount}</dd>` +
      (c.firstAt > 0 ? `<dt>From</dt><dd>${when(c.firstAt)}</dd><dt>To</dt><dd>${when(c.lastAt)}</dd>` : '') +
      `<dt>Exported</dt><dd>${when(now)}</dd></dl>\n<ol>`,
    message: (m) => {
      const view = messageView(m.contentType, m.body);
      const content = view.text !== null ? `<p class="text">${escapeHtml(view.text)}</p>` : `<p class="other">[${escapeHtml(view.displayType)}, ${m.bytes} bytes]</p>`;
      return `\n<li id="m${m.id}"><div class="meta"><span class="sender">${escapeHtml(m.sender)}</span> to ${escapeHtml(m.recipients.join(', '))} · ${when(m.storedAt)}</div>${content}</li>`;
    },
    tail: () => '\n</ol>\n</body>\n</html>\n',
  };
}

/** The writer of one format for one conversation, exported at `now`. */
export function exportWriter(format: ExportFormat, c: ConversationRow, now = Date.now()): ExportWriter {
  if (format === 'json') return jsonWriter(c, now);
  if (format === 'csv') return csvWriter();
  return htmlWriter(c, now);
}
