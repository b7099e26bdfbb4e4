import { isTokenChar } from './scanner.js';
import { firstViaComma } from './via.js';

/**
 * A proxy relays a response with its own Via removed and nothing else changed (RFC 3261 §16.7
 * step 9). Doing that on the bytes as received saves serialising the whole message again, and
 * keeps every other field exactly as the device wrote it.
 */

/**
 * What the field name `head[from, to)` is, white space around it aside: Via (or its compact form
 * v, in any case), another name, or null when it holds anything but token characters (a name the
 * parser read after trimming other white space: not ours to judge here).
 */
function isViaName(head: string, from: number, to: number): boolean | null {
  while (from < to && (head.charCodeAt(from) === 32 || head.charCodeAt(from) === 9)) from++;
  while (to > from && (head.charCodeAt(to - 1) === 32 || head.charCodeAt(to - 1) === 9)) to--;
  for (let i = from; i < to; i++) if (!isTokenChar(head.charCodeAt(i))) return null;
  const first = head.charCodeAt(from) | 0x20; // ASCII letters lower-cased
  if (to - from === 1) return first === 0x76;
  return to - from === 3 && first === 0x76 && (head.charCodeAt(from + 1) | 0x20) === 0x69 && (head.charCodeAt(from + 2) | 0x20) === 0x61;
}

/** Whether every line of `head` ends in CRLF (a bare LF would move where lines and the body start). */
function crlfOnly(head: string): boolean {
  for (let i = head.indexOf('\n'); i >= 0; i = head.indexOf('\n', i + 1)) if (head.charCodeAt(i - 1) !== 13) return false;
  return true;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const SPACE = Buffer.from(' ');

/**
 * The message without its first Via value, or null when the bytes are not plain enough to cut
 * safely: a folded first Via line, a trailing comma, a bare LF, a field name with other white
 * space or characters around it, no blank line.
 * The caller then serialises the parsed message instead.
 */
export function withoutFirstVia(raw: Buffer): Buffer | null {
  const headEnd = raw.indexOf(CRLFCRLF);
  if (headEnd < 0) return null;
  // the header section read once as text, a character per byte: its offsets are the bytes'
  const head = raw.toString('latin1', 0, headEnd + 2);
  if (!crlfOnly(head)) return null;
  let lineStart = head.indexOf('\r\n') + 2; // after the start line
  while (lineStart > 1 && lineStart < head.length) {
    const lineEnd = head.indexOf('\r\n', lineStart);
    const colon = head.indexOf(':', lineStart);
    if (colon < 0 || colon > lineEnd) return null;
    const via = isViaName(head, lineStart, colon);
    if (via === null) return null;
    if (via) {
      const next = raw[lineEnd + 2];
      if (next === 0x20 || next === 0x09) return null; // folded onto the next line
      // several values in one line ("Via: ours, theirs", as SIPp's [last_Via:] writes them):
      // the line keeps its name and loses the first value with its comma
      const comma = firstViaComma(head, colon + 1, lineEnd);
      if (comma < 0) return Buffer.concat([raw.subarray(0, lineStart), raw.subarray(lineEnd + 2)]);
      let rest = comma + 1;
      while (raw[rest] === 0x20 || raw[rest] === 0x09) rest++;
      if (rest >= lineEnd) return null;
      return Buffer.concat([raw.subarray(0, colon + 1), SPACE, raw.subarray(rest)]);
    }
    lineStart = lineEnd + 2;
  }
  return null;
}
