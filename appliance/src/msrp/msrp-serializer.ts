import { randomFillSync } from 'node:crypto';
import { MsrpError, STATUS_COMMENTS, type ByteRange } from './msrp-types.js';

// 62 alphanumerics and two of them again: a byte's low 6 bits pick one (RFC 4975 §9: an ident
// starts with ALPHANUM, and alphanumerics alone are safe everywhere an ident goes)
const IDENT_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789xy';
const IDENT_LENGTH = 16;
/** random bytes drawn in bulk: one randomBytes call per 1,024 idents rather than one per ident */
const pool = Buffer.alloc(IDENT_LENGTH * 1024);
let poolAt = pool.length;

/**
 * A fresh transaction id, Message-ID or session id: 16 characters carrying 96 random bits from
 * the CSPRNG (RFC 4975 §9 ident; §7.1 and §14.1 want them hard to guess). The bytes come from
 * a pool filled by one `randomFillSync` per 1,024 idents: a room sends one SEND per leg per
 * message, and a system call per transaction id was a fifth of the switch's CPU.
 */
export function newIdent(): string {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  let id = '';
  for (let i = 0; i < IDENT_LENGTH; i++) id += IDENT_ALPHABET[pool[poolAt + i] & 63];
  poolAt += IDENT_LENGTH;
  return id;
}

/** What a request to serialize carries; To-Path and From-Path are written first (RFC 4975 §7.1). */
export interface OutgoingRequest {
  tid: string;
  method: string;
  toPath: string;
  fromPath: string;
  /** further headers in order (Message-ID, Byte-Range, Success-Report …; Content-Type last) */
  headers: [string, string][];
  body?: Buffer | null;
  continuation?: '$' | '+' | '#';
}

/** Serializes a request: start line, headers, `CRLF body CRLF` when there is a body, end-line. */
export function serializeRequest(r: OutgoingRequest): Buffer {
  let head = `MSRP ${r.tid} ${r.method}\r\nTo-Path: ${r.toPath}\r\nFrom-Path: ${r.fromPath}\r\n`;
  for (const [n, v] of r.headers) head += `${n}: ${v}\r\n`;
  const end = `-------${r.tid}${r.continuation ?? '$'}\r\n`;
  if (r.body === undefined || r.body === null) return Buffer.from(head + end, 'utf8');
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'utf8'), r.body, Buffer.from(`\r\n${end}`, 'latin1')]);
}

/**
 * Serializes a response (RFC 4975 §7.2): To-Path is the request's From-Path (we are never a
 * relay, so the whole path), From-Path our own URI; no other headers, no body.
 */
export function serializeResponse(tid: string, status: number, toPath: string, fromPath: string, comment?: string): Buffer {
  const text = comment ?? STATUS_COMMENTS[status] ?? '';
  return Buffer.from(`MSRP ${tid} ${status}${text ? ` ${text}` : ''}\r\nTo-Path: ${toPath}\r\nFrom-Path: ${fromPath}\r\n-------${tid}$\r\n`, 'utf8');
}

// RFC 4975 §9: range-start "-" range-end "/" total; range-end and total may be "*"
const RANGE = /^(\d{1,15})-(\d{1,15}|\*)\/(\d{1,15}|\*)$/;

/**
 * Parses Byte-Range; a range that does not parse, starts at 0, ends before it starts or past
 * the total is a 400 (RFC 4975 §7.3.1 says a receiver must be able to rely on it).
 */
export function parseByteRange(text: string | undefined): ByteRange {
  if (text === undefined) return { start: 1, end: null, total: null }; // §7.1.1: absent means 1-*/*
  const m = RANGE.exec(text.trim());
  if (m === null) throw new MsrpError(400, 'Malformed Byte-Range');
  const start = Number(m[1]);
  const end = m[2] === '*' ? null : Number(m[2]);
  const total = m[3] === '*' ? null : Number(m[3]);
  if (start < 1) throw new MsrpError(400, 'Byte-Range starts at 0');
  if (end !== null && end < start - 1) throw new MsrpError(400, 'Byte-Range ends before it starts');
  if (total !== null && (start > total + 1 || (end !== null && end > total))) throw new MsrpError(400, 'Byte-Range past the total');
  return { start, end, total };
}

/** Formats Byte-Range for a chunk of `length` bytes at 1-based `start` of `total`. */
export function formatByteRange(start: number, length: number, total: number | null): string {
  return `${start}-${length === 0 ? start - 1 : start + length - 1}/${total ?? '*'}`;
}
