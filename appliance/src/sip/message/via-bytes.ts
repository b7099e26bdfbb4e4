/**
 * A proxy relays a response with its own Via removed and nothing else changed (RFC 3261 §16.7
 * step 9). Doing that on the bytes as received saves serialising the whole message again, and
 * keeps every other field exactly as the device wrote it.
 */

/** Names a Via field line can start with (RFC 3261 §7.3.3 compact form "v"), lower case. */
function isViaName(name: string): boolean {
  return name === 'via' || name === 'v';
}

/**
 * The message without its first Via value, or null when the bytes are not plain enough to cut
 * safely: the first Via line holding several values ("Via: a, b"), a folded line, no blank line.
 * The caller then serialises the parsed message instead.
 */
export function withoutFirstVia(raw: Buffer): Buffer | null {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  let lineStart = raw.indexOf('\r\n') + 2; // after the start line
  while (lineStart > 1 && lineStart < headEnd + 2) {
    const lineEnd = raw.indexOf('\r\n', lineStart);
    const colon = raw.indexOf(':', lineStart);
    if (colon < 0 || colon > lineEnd) return null;
    const name = raw.toString('latin1', lineStart, colon).trim().toLowerCase();
    if (isViaName(name)) {
      const value = raw.toString('latin1', colon + 1, lineEnd);
      // several values in one line (or a quoted comma we would have to scan for): not ours to cut
      if (value.includes(',')) return null;
      const next = raw[lineEnd + 2];
      if (next === 0x20 || next === 0x09) return null; // folded onto the next line
      return Buffer.concat([raw.subarray(0, lineStart), raw.subarray(lineEnd + 2)]);
    }
    lineStart = lineEnd + 2;
  }
  return null;
}
