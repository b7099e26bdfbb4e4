import { describe, expect, it } from 'vitest';
import { PreparedSend, pathLines } from './prepared-send.js';
import { formatByteRange, serializeRequest } from './msrp-serializer.js';
import { MsrpFramer } from './msrp-framer.js';
import type { MsrpMessage, MsrpRequest } from './msrp-types.js';

const TO = 'msrp://127.0.0.1:2855/leg1;tcp';
const FROM = 'msrp://127.0.0.1:2855/ours1;tcp';

/** The SEND the general serializer writes for the same chunk: what the splice must equal byte for byte. */
function reference(tid: string, id: string, type: string | null, body: Buffer, start: number, total: number, flag: '$' | '+', extra: [string, string][] = []): Buffer {
  const headers: [string, string][] = [['Message-ID', id], ...extra, ['Byte-Range', formatByteRange(start, body.length, total)]];
  if (type !== null) headers.push(['Content-Type', type]);
  return serializeRequest({ tid, method: 'SEND', toPath: TO, fromPath: FROM, headers, body: type === null ? null : body, continuation: flag });
}

function frame(bytes: Buffer[]): MsrpMessage[] {
  const out: MsrpMessage[] = [];
  const f = new MsrpFramer({ maxChunkBytes: 1 << 20, maxHeaderBytes: 8192 }, { message: (m) => out.push(m), rejected: (_tid, _h, err) => out.push({ kind: 'response', tid: 'rejected', status: err.status, comment: err.comment, headers: new Map() }) });
  for (const b of bytes) f.push(b);
  return out;
}

describe('PreparedSend: one message serialized once, spliced per leg', () => {
  it('writes a one-chunk SEND byte for byte as the serializer does, for each leg with its own transaction id and paths', () => {
    const body = Buffer.from('From: <sip:a@x>\r\nTo: <sip:room@x>\r\n\r\nContent-Type: text/plain\r\n\r\nhé');
    const p = new PreparedSend('message/cpim', body, { messageId: 'm1abcd', chunkBytes: 16_384 });
    expect(p.chunks).toHaveLength(1);
    const paths = pathLines(TO, FROM);
    expect(p.bytesFor(0, 'tidAAAA1', paths).equals(reference('tidAAAA1', 'm1abcd', 'message/cpim', body, 1, body.length, '$'))).toBe(true);
    // a second leg: the shared bytes are the same object, only the per-leg parts differ
    const other = pathLines('msrp://127.0.0.1:9/leg2;tcp', FROM);
    const second = p.bytesFor(0, 'tidBBBBBB2', other).toString('latin1');
    expect(second.startsWith('MSRP tidBBBBBB2 SEND\r\nTo-Path: msrp://127.0.0.1:9/leg2;tcp\r\n')).toBe(true);
    expect(second.endsWith('\r\n-------tidBBBBBB2$\r\n')).toBe(true);
  });

  it('chunks a larger body with Byte-Range and + then $, each chunk equal to the serializer\'s, and the framer reads them back', () => {
    const body = Buffer.alloc(10_000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const p = new PreparedSend('application/octet-stream', body, { messageId: 'big1', chunkBytes: 4096, successReport: true, failureReport: 'partial' });
    expect(p.chunks.map((c) => c.flag)).toEqual(['+', '+', '$']);
    const paths = pathLines(TO, FROM);
    const bytes = p.chunks.map((_, i) => p.bytesFor(i, `tid000${i}`, paths));
    const extra: [string, string][] = [['Success-Report', 'yes'], ['Failure-Report', 'partial']];
    expect(bytes[0].equals(reference('tid0000', 'big1', 'application/octet-stream', body.subarray(0, 4096), 1, 10_000, '+', extra))).toBe(true);
    expect(bytes[2].equals(reference('tid0002', 'big1', 'application/octet-stream', body.subarray(8192), 8193, 10_000, '$', extra))).toBe(true);
    const reqs = frame([Buffer.concat(bytes)]) as MsrpRequest[];
    expect(reqs.map((r) => [r.tid, r.headers.get('byte-range'), r.continuation])).toEqual([
      ['tid0000', '1-4096/10000', '+'],
      ['tid0001', '4097-8192/10000', '+'],
      ['tid0002', '8193-10000/10000', '$'],
    ]);
    expect(Buffer.concat(reqs.map((r) => r.body!)).equals(body)).toBe(true);
  });

  it('writes an empty body as one chunk, and the bind SEND (no Content-Type) without a body section', () => {
    const empty = new PreparedSend('text/plain', Buffer.alloc(0), { messageId: 'e1xx', chunkBytes: 4096 });
    expect(empty.bytesFor(0, 'tidE', pathLines(TO, FROM)).equals(reference('tidE', 'e1xx', 'text/plain', Buffer.alloc(0), 1, 0, '$'))).toBe(true);
    const bind = new PreparedSend(null, Buffer.alloc(0), { messageId: 'b1xx', chunkBytes: 4096 });
    const bytes = bind.bytesFor(0, 'tidB', pathLines(TO, FROM));
    expect(bytes.equals(reference('tidB', 'b1xx', null, Buffer.alloc(0), 1, 0, '$'))).toBe(true);
    expect(frame([bytes])).toMatchObject([{ kind: 'request', method: 'SEND', tid: 'tidB', body: null }]);
  });

  it('leaves the shared bytes untouched however many legs it writes for', () => {
    const p = new PreparedSend('text/plain', Buffer.from('same for all'), { messageId: 'm2xx', chunkBytes: 4096 });
    const before = Buffer.from(p.chunks[0].middle);
    for (let i = 0; i < 50; i++) p.bytesFor(0, `tid${String(i).padStart(4, '0')}`, pathLines(`msrp://h:1/s${i};tcp`, FROM));
    expect(p.chunks[0].middle.equals(before)).toBe(true);
  });
});
