import { describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import type { ConversationRow } from '../store/entities.js';
import type { ReadMessage } from './conversation-store.js';
import { csvField, escapeHtml, exportWriter } from './export-formats.js';

const conversation: ConversationRow = {
  id: 1, publicId: 'abc', owner: 'sip:alice@parley.test', kind: 'pager', captureKey: 'pager:sip:bob@parley.test', name: 'Chat <with> "Bob"',
  peers: '["sip:bob@parley.test"]', recording: true, createdAt: 1, firstAt: 1000, lastAt: 2000, messageCount: 2, bytes: 10,
};
const message = (id: number, contentType: string, body: Buffer): ReadMessage => ({
  id, conversationId: 1, sender: 'sip:alice@parley.test', recipients: ['sip:bob@parley.test'], contentType, body, bytes: body.length, storedAt: 1000 + id, messageId: null,
});
const write = (format: 'json' | 'csv' | 'html', ms: ReadMessage[]) => {
  const w = exportWriter(format, conversation, 5000);
  return w.head() + ms.map((m, i) => w.message(m, i)).join('') + w.tail();
};

describe('export formats', () => {
  const text = message(1, 'text/plain', Buffer.from('a "quoted", multi\r\nline <b>text</b> é'));
  const binary = message(2, 'image/png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0xff, 0x00]));

  it('JSON keeps every field and the body byte for byte (text as UTF-8, the rest base64)', () => {
    const doc = JSON.parse(write('json', [text, binary])) as { messages: { body: string; bodyEncoding: string; storedAtMs: number; contentType: string }[] };
    expect(doc.messages.map((m) => Buffer.from(m.body, m.bodyEncoding === 'base64' ? 'base64' : 'utf8'))).toEqual([text.body, binary.body]);
    expect(doc.messages.map((m) => m.bodyEncoding)).toEqual(['utf-8', 'base64']);
  });

  it('CSV follows RFC 4180: BOM, header, quotes doubled, fields with commas or line breaks quoted, CRLF', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('say "hi", ok')).toBe('"say ""hi"", ok"');
    expect(csvField('a\nb')).toBe('"a\nb"');
    const out = write('csv', [text]);
    expect(out.startsWith('\uFEFFid,storedAt,sender,')).toBe(true);
    expect(out.endsWith('\r\n')).toBe(true);
    expect(out).toContain('"a ""quoted"", multi\r\nline <b>text</b> é"');
  });

  it('CSV makes a text cell a spreadsheet would read as a formula inert with a leading single quote; JSON keeps it as stored', () => {
    expect(csvField('=HYPERLINK("http://evil.example","x")')).toBe('"\'=HYPERLINK(""http://evil.example"",""x"")"');
    expect(csvField('-2+3')).toBe("'-2+3");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField(-1)).toBe('-1'); // our own numbers are not text someone wrote
    const formula = { ...message(3, 'text/plain', Buffer.from('+1+1 see you')), messageId: '=cmd|x' };
    const rows = parse(write('csv', [formula]), { bom: true, columns: true }) as Record<string, string>[];
    expect(rows[0]).toMatchObject({ text: "'+1+1 see you", body: "'+1+1 see you", messageId: "'=cmd|x" });
    const doc = JSON.parse(write('json', [formula])) as { messages: { body: string; messageId: string }[] };
    expect(doc.messages[0]).toMatchObject({ body: '+1+1 see you', messageId: '=cmd|x' });
  });

  it('HTML is self-contained and escaped, with ISO and readable times', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const out = write('html', [text, binary]);
    expect(out).not.toMatch(/<b>|<script|https?:/);
    expect(out).toContain('&lt;b&gt;text&lt;/b&gt;');
    expect(out).toContain('<title>Chat &lt;with&gt; &quot;Bob&quot;</title>');
    expect(out).toContain('<time datetime="1970-01-01T00:00:01.001Z">Thursday, 1 January 1970 at 00:00:01 UTC</time>');
    expect(out).toContain('[image/png, 6 bytes]');
  });
});
