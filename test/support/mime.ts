// A small multipart reader for tests (RFC 2046 §5.1.1), written apart from the appliance's own
// parser so that tests do not check the appliance's bodies with the appliance's code.

/** One body part: header names lower-cased, and the part's text. */
export interface Part {
  headers: Record<string, string>;
  body: string;
}

/** The parts of a multipart body, or throws when the Content-Type has no boundary or the body no close delimiter. */
export function multipartParts(contentType: string, body: string): Part[] {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (boundary === undefined) throw new Error(`no boundary in ${contentType}`);
  const text = `\r\n${body}`;
  const close = text.indexOf(`\r\n--${boundary}--`);
  if (close < 0) throw new Error('no close delimiter');
  return text
    .slice(0, close)
    .split(`\r\n--${boundary}\r\n`)
    .slice(1)
    .map((raw) => {
      const end = raw.indexOf('\r\n\r\n');
      const headers: Record<string, string> = {};
      for (const line of raw.slice(0, end).split('\r\n')) headers[line.slice(0, line.indexOf(':')).trim().toLowerCase()] = line.slice(line.indexOf(':') + 1).trim();
      return { headers, body: raw.slice(end + 4) };
    });
}
