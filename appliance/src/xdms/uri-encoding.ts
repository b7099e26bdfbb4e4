/**
 * Percent-encoding of XCAP URI parts for what the server writes back into
 * bodies: the `<ancestor>` URI and the `field` of `<exists>` in RFC 4825 §11
 * error reports are URIs, so characters a URI path cannot carry ('[', ']', '"',
 * spaces, '?', '#', '%', non-ASCII) are percent-encoded (RFC 3986 §2.1), while
 * the delimiters a node selector is made of ('/', '@', ':', '=', '*') stay.
 */

/** pchar (RFC 3986 §3.3) minus the unreserved characters that encodeURIComponent keeps anyway. */
const PCHAR_DELIMS = /%(3A|40|21|24|26|27|28|29|2A|2B|2C|3B|3D)/g;

/** A lone surrogate (possible in a document through a character reference) cannot be UTF-8 encoded. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** One path segment (a document selector segment, e.g. "sip:alice@example.com"), encoded as pchar. */
export function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment.replace(LONE_SURROGATE, '\uFFFD')).replace(PCHAR_DELIMS, (m) => decodeURIComponent(m));
}

/**
 * A node selector as written in a URI: '/' separates steps and stays, everything
 * else is a pchar. `resource-lists/list[@name="a b"]` becomes
 * `resource-lists/list%5B@name=%22a%20b%22%5D`.
 */
export function encodeNodeSelector(selector: string): string {
  return selector.split('/').map(encodePathSegment).join('/');
}

/** The query of a node selector's namespace bindings (RFC 4825 §6.4): `xmlns(p=uri)…`, encoded. */
export function encodeXmlnsQuery(bindings: ReadonlyMap<string, string>): string {
  return [...bindings].map(([prefix, ns]) => `xmlns(${encodePathSegment(prefix)}=${encodePathSegment(ns)})`).join('');
}
