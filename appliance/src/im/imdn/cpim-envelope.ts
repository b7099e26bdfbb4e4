/** One header line of a CPIM message: its name as written and its value. */
export interface CpimHeader {
  name: string;
  value: string;
}

/**
 * A message/cpim body read header by header (RFC 3862 §3): the message headers in order
 * (From, To, DateTime, NS, and namespaced ones such as `imdn.Message-ID`), the encapsulated
 * MIME headers (Content-Type, Content-Disposition …), and the content.
 */
export interface CpimEnvelope {
  headers: CpimHeader[];
  contentHeaders: CpimHeader[];
  body: Buffer;
}

/** The IMDN namespace a CPIM `NS` header binds a prefix to (RFC 5438 §6.1). */
export const IMDN_NS = 'urn:ietf:params:imdn';

function headerLines(text: string): CpimHeader[] | null {
  const out: CpimHeader[] = [];
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    out.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  return out;
}

/** Reads a message/cpim body; null when it lacks the blank lines RFC 3862 §2 requires. */
export function readCpim(raw: Buffer): CpimEnvelope | null {
  const first = raw.indexOf('\r\n\r\n');
  if (first < 0) return null;
  const second = raw.indexOf('\r\n\r\n', first + 4);
  if (second < 0) return null;
  const headers = headerLines(raw.subarray(0, first).toString('utf8'));
  const contentHeaders = headerLines(raw.subarray(first + 4, second).toString('utf8'));
  if (headers === null || contentHeaders === null) return null;
  return { headers, contentHeaders, body: raw.subarray(second + 4) };
}

/** Writes a CPIM body back: message headers, blank line, content headers, blank line, content. */
export function writeCpim(e: CpimEnvelope): Buffer {
  const lines = (hs: CpimHeader[]) => hs.map((h) => `${h.name}: ${h.value}\r\n`).join('');
  return Buffer.concat([Buffer.from(`${lines(e.headers)}\r\n${lines(e.contentHeaders)}\r\n`), e.body]);
}

/**
 * The prefixes the message binds to `namespace` with `NS` headers (RFC 3862 §3.4 and §4.6: `NS: imdn
 * <urn:ietf:params:imdn>`); the prefix is the sender's choice, so names are matched through it.
 */
function prefixesOf(e: CpimEnvelope, namespace: string): string[] {
  const out: string[] = [];
  for (const h of e.headers) {
    if (h.name.toLowerCase() !== 'ns') continue;
    const m = /^([^\s<]*)\s*<([^>]*)>/.exec(h.value);
    if (m && m[2].trim() === namespace) out.push(m[1].trim().toLowerCase());
  }
  return out;
}

/** Every value of a header in the IMDN namespace (`localName` e.g. `Message-ID`), in order. */
export function imdnHeaders(e: CpimEnvelope, localName: string): string[] {
  const names = new Set(prefixesOf(e, IMDN_NS).map((p) => `${p}.${localName}`.toLowerCase()));
  return e.headers.filter((h) => names.has(h.name.toLowerCase())).map((h) => h.value);
}

/** The first value of a header outside any namespace (From, To, DateTime). */
export function plainHeader(e: CpimEnvelope, name: string): string | undefined {
  return e.headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;
}

/** The first value of an encapsulated MIME header (Content-Type, Content-Disposition). */
export function contentHeader(e: CpimEnvelope, name: string): string | undefined {
  return e.contentHeaders.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;
}

/** The URI in a CPIM address value (`"Name" <sip:a@b>` or a bare `<sip:a@b>`). */
export function uriIn(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const m = /<([^>]*)>/.exec(value);
  return (m ? m[1] : value).trim();
}

/**
 * Adds a header in the IMDN namespace, with the prefix the message already binds to it (RFC
 * 3862 §3.4), after the message's other headers; the rest of the message is left as it was.
 */
export function withImdnHeader(e: CpimEnvelope, localName: string, value: string): CpimEnvelope {
  const prefix = prefixesOf(e, IMDN_NS)[0];
  if (prefix === undefined) return { ...e, headers: [...e.headers, { name: 'NS', value: `imdn <${IMDN_NS}>` }, { name: `imdn.${localName}`, value }] };
  return { ...e, headers: [...e.headers, { name: `${prefix}.${localName}`, value }] };
}
