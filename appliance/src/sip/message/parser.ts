import { Headers } from './headers.js';
import { receivedName, commonName } from './header-names.js';
import { SipRequest, SipResponse, type AnyMessage } from './message.js';
import { SyntaxFault, isToken } from './scanner.js';
import { parseUri, isSipUri } from './uri.js';

export interface ParseLimits {
  /** whole message, start line to end of body (RFC 3261 §21.5.14: 513 beyond it) */
  maxMessageBytes: number;
  /** body alone (413 beyond it) */
  maxBodyBytes: number;
}

export const DEFAULT_LIMITS: ParseLimits = { maxMessageBytes: 65535, maxBodyBytes: 32768 };

/**
 * A message that could not be accepted. For requests with a readable Via the
 * transport layer answers `status`/`reason` statelessly; everything else is dropped.
 */
export interface Rejected {
  status: number;
  reason: string;
  isRequest: boolean;
  /** whatever header fields were readable, to build the response from */
  headers: Headers;
}

export type ParseOutcome = { ok: true; message: AnyMessage } | { ok: false; rejected: Rejected };

/** A header section, split into fields (the stream framer parses it once per message). */
export interface Head {
  startLine: string;
  headers: Headers;
  fault: string | null;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');

/**
 * Where the header section ends and the body starts. Bare-LF messages (as in
 * the RFC 5118 examples) are tolerated: robustness, RFC 3261 §7.5 wants CRLF.
 */
function findHeadEnd(buf: Buffer): { headEnd: number; bodyStart: number } | null {
  const crlf = buf.indexOf(CRLFCRLF);
  if (crlf >= 0 && crlf < 64) return { headEnd: crlf, bodyStart: crlf + 4 };
  const lf = buf.indexOf(LFLF);
  if (lf >= 0 && (crlf < 0 || lf < crlf)) return { headEnd: lf, bodyStart: lf + 2 };
  return crlf >= 0 ? { headEnd: crlf, bodyStart: crlf + 4 } : null;
}

/** Splits the header section into fields, unfolding continuation lines (RFC 3261 §7.3.1). */
export function parseHead(text: string): Head {
  // the common form, CRLF line ends and no folded line: each field cut straight from the text,
  // without a string per line and the array of them
  if (text.includes('\r\n')) {
    const head = parseCrlfHead(text);
    if (head !== null) return head;
  }
  const lines = text.includes('\r\n') ? text.split('\r\n') : text.split('\n');
  const headers = new Headers();
  let fault: string | null = null;
  let i = 1;
  while (i < lines.length) {
    let line = lines[i++];
    while (i < lines.length && (lines[i].charCodeAt(0) === 32 || lines[i].charCodeAt(0) === 9)) {
      line += ' ' + lines[i++].trimStart();
    }
    if (line.length === 0) continue;
    const problem = addField(headers, line, 0, line.indexOf(':'), line.length);
    fault ??= problem;
  }
  return { startLine: lines[0], headers, fault };
}

/** parseHead for CRLF line ends; null when a line is folded (the general way unfolds it). */
function parseCrlfHead(text: string): Head | null {
  const headers = new Headers();
  let fault: string | null = null;
  const firstEnd = text.indexOf('\r\n');
  if (isFold(text, firstEnd + 2)) return null;
  let pos = firstEnd + 2;
  while (pos < text.length) {
    let end = text.indexOf('\r\n', pos);
    if (end < 0) end = text.length;
    else if (isFold(text, end + 2)) return null;
    if (end > pos) {
      const colon = text.indexOf(':', pos);
      const problem = addField(headers, text, pos, colon >= 0 && colon < end ? colon : -1, end);
      fault ??= problem;
    }
    pos = end + 2;
  }
  return { startLine: text.slice(0, firstEnd), headers, fault };
}

/** Whether a continuation line (RFC 3261 §7.3.1: starts with SP or HTAB) starts at `at`. */
function isFold(text: string, at: number): boolean {
  const c = text.charCodeAt(at);
  return c === 32 || c === 9;
}

/**
 * One header field, the line `src[start, end)` whose first colon is at `colon` (-1: none), added
 * to `headers`; returns what is wrong with it, or null.
 */
function addField(headers: Headers, src: string, start: number, colon: number, end: number): string | null {
  let read = colon > start ? commonName(src, start, colon) : undefined;
  if (read === undefined) {
    const name = colon > start ? src.slice(start, colon).trimEnd() : '';
    if (colon <= start || !isToken(name)) return `Malformed header line '${src.slice(start, Math.min(end, start + 30))}'`;
    read = receivedName(name);
  }
  // the value without the white space around it: the common "Name: value" cut once, anything
  // else (more or other white space, non-ASCII at either end) as trim() has it
  let from = colon + 1;
  if (from < end && src.charCodeAt(from) === 32) from++;
  const first = from < end ? src.charCodeAt(from) : -1;
  const last = src.charCodeAt(end - 1);
  const plain = first > 32 && first < 127 && last > 32 && last < 127;
  const value = plain ? src.slice(from, end) : src.slice(colon + 1, end).trim();
  const duplicate = read.single && headers.hasKey(read.key);
  headers.append(read.key, value, read.spelling);
  return duplicate ? `Duplicate ${src.slice(start, colon).trimEnd()} header` : null;
}

/** The Content-Length value, null when absent, or the fault as text. */
export function contentLength(headers: Headers): number | string | null {
  const values = headers.all('content-length');
  if (values.length === 0) return null;
  if (values.length > 1) return 'Multiple Content-Length headers';
  if (!/^[0-9]{1,10}$/.test(values[0])) return `Malformed Content-Length '${values[0].slice(0, 20)}'`;
  return Number(values[0]);
}

function reject(status: number, reason: string, isRequest: boolean, headers: Headers): ParseOutcome {
  return { ok: false, rejected: { status, reason, isRequest, headers } };
}

/** Builds and checks a message from its start line, header fields and body. */
export function build(head: Head, body: Buffer, totalBytes: number, limits: ParseLimits): ParseOutcome {
  const { startLine, headers } = head;
  const isRequest = !startLine.startsWith('SIP/');
  if (totalBytes > limits.maxMessageBytes) return reject(513, 'Message Too Large', isRequest, headers);
  if (isRequest) return buildRequest(head, body, limits);
  const m = /^SIP\/2\.0 ([1-6][0-9]{2})(?: (.*))?$/i.exec(startLine);
  if (m === null) return reject(0, 'Malformed Status-Line', false, headers);
  if (head.fault !== null) return reject(0, head.fault, false, headers);
  const res = new SipResponse(Number(m[1]), m[2] ?? '', headers, body);
  try {
    checkCommon(res);
  } catch (e) {
    return reject(0, (e as Error).message, false, headers);
  }
  return { ok: true, message: res };
}

function buildRequest(head: Head, body: Buffer, limits: ParseLimits): ParseOutcome {
  const { startLine, headers } = head;
  // RFC 3261 §25.1: Request-Line = Method SP Request-URI SP SIP-Version CRLF (single spaces)
  const sp1 = startLine.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : startLine.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || startLine.indexOf(' ', sp2 + 1) >= 0) return reject(400, 'Malformed Request-Line', true, headers);
  const method = startLine.slice(0, sp1);
  if (!isToken(method)) return reject(400, 'Malformed Request-Line', true, headers);
  const uriText = startLine.slice(sp1 + 1, sp2);
  const version = startLine.slice(sp2 + 1);
  if (version !== 'SIP/2.0') {
    if (!/^SIP\/[0-9]+\.[0-9]+$/i.test(version)) return reject(400, 'Malformed SIP-Version', true, headers);
    if (version.toUpperCase() !== 'SIP/2.0') return reject(505, 'Version Not Supported', true, headers);
  }
  if (head.fault !== null) return reject(400, head.fault, true, headers);
  if (body.length > limits.maxBodyBytes) return reject(413, 'Request Entity Too Large', true, headers);
  let req: SipRequest;
  try {
    const uri = parseUri(uriText, 'Request-URI');
    // RFC 3261 §19.1.1, table 1: headers are not allowed in a Request-URI
    if (isSipUri(uri) && uri.headers !== null) throw new SyntaxFault('Request-URI must not carry headers');
    req = new SipRequest(method, uri, uriText, headers, body);
    checkCommon(req);
    checkRequest(req);
  } catch (e) {
    if (e instanceof SyntaxFault) return reject(400, e.message, true, headers);
    throw e;
  }
  return { ok: true, message: req };
}

const RFC1123 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/;

/** Fields every message needs to be matched to a transaction (RFC 3261 §8.1.1). */
function checkCommon(msg: AnyMessage): void {
  if (msg.vias.length === 0) throw new SyntaxFault('Missing Via header');
  void msg.from;
  void msg.to;
  const callId = msg.callId;
  if (callId.length === 0 || /\s/.test(callId)) throw new SyntaxFault('Malformed Call-ID');
  void msg.cseq;
}

function checkRequest(req: SipRequest): void {
  const h = req.headers;
  if (req.cseq.method !== req.method) throw new SyntaxFault('CSeq method does not match the Request-Line');
  const mf = h.get('max-forwards');
  // RFC 3261 §20.22: an integer in the range 0-255
  if (mf !== undefined && (!/^[0-9]{1,5}$/.test(mf) || Number(mf) > 255)) throw new SyntaxFault('Malformed Max-Forwards');
  const date = h.get('date');
  if (date !== undefined && !RFC1123.test(date)) throw new SyntaxFault('Malformed Date (RFC 1123 form in GMT expected)');
  const expires = h.get('expires');
  if (expires !== undefined && !/^[0-9]+$/.test(expires)) throw new SyntaxFault('Malformed Expires');
  const ctype = h.get('content-type');
  if (ctype !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*(;.*)?$/.test(ctype)) {
    throw new SyntaxFault('Malformed Content-Type');
  }
  void req.contacts;
  for (const name of ['require', 'proxy-require', 'supported']) {
    for (const t of req.tokens(name)) if (!isToken(t)) throw new SyntaxFault(`Malformed ${name} header`);
  }
}

/**
 * Parses one UDP datagram. Content-Length frames the body; octets past it are
 * ignored (RFC 3261 §18.3), and a Content-Length beyond the datagram is an error.
 */
export function parseDatagram(buf: Buffer, limits: ParseLimits = DEFAULT_LIMITS): ParseOutcome | null {
  // the common form first: CRLF line ends, the empty line there, no bare-LF pair before it (one
  // search of the bytes, where findHeadEnd needs two)
  const crlf = buf.indexOf(CRLFCRLF);
  let head: Head | null = null;
  let end: { headEnd: number; bodyStart: number };
  if (crlf > 0) {
    const text = buf.toString('utf8', 0, crlf);
    if (!text.includes('\n\n')) head = parseHead(text);
  }
  if (head !== null) end = { headEnd: crlf, bodyStart: crlf + 4 };
  else {
    // A datagram is one whole message, so a missing empty line ends the header section there.
    end = findHeadEnd(buf) ?? { headEnd: trimEol(buf), bodyStart: buf.length };
    if (end.headEnd === 0) return null;
    head = parseHead(buf.toString('utf8', 0, end.headEnd));
  }
  const bodyStart = end.bodyStart;
  const bareLf = buf[end.headEnd] === 10;
  const cl = contentLength(head.headers);
  const isRequest = !head.startLine.startsWith('SIP/');
  if (typeof cl === 'string') return reject(400, cl, isRequest, head.headers);
  let bodyEnd = buf.length;
  if (cl !== null) {
    // A bare-LF message was rewritten from CRLF on its way, which shrinks the body its
    // Content-Length counted: read to the end then (RFC 5118 §4.1 example, ipv6-in-sdp).
    if (bodyStart + cl > buf.length && bareLf) bodyEnd = buf.length;
    else if (bodyStart + cl > buf.length) return reject(400, 'Content-Length exceeds the datagram', isRequest, head.headers);
    else bodyEnd = bodyStart + cl;
  }
  const outcome = build(head, buf.subarray(bodyStart, bodyEnd), bodyEnd, limits);
  if (outcome.ok) outcome.message.raw = buf.subarray(0, bodyEnd);
  return outcome;
}

function trimEol(buf: Buffer): number {
  let n = buf.length;
  while (n > 0 && (buf[n - 1] === 10 || buf[n - 1] === 13)) n--;
  return n;
}

/** Parses one complete message whose body is the rest of the text (for WebSocket frames and tests). */
export function parseMessage(data: Buffer | string, limits: ParseLimits = DEFAULT_LIMITS): ParseOutcome | null {
  return parseDatagram(typeof data === 'string' ? Buffer.from(data) : data, limits);
}

