import { parseNodeSelector, SelectorError, type NodeSelector } from './node-selector.js';
import { XcapError } from './xcap-error.js';

/** A parsed XCAP resource path below the XCAP root (RFC 4825 §6). */
export interface XcapUri {
  auid: string;
  /** 'users' with the XUI, or 'global' */
  scope: 'users' | 'global';
  xui: string | null;
  /** path of the document inside its folder, e.g. "index" or "dir/doc.xml" */
  document: string;
  /** null when the URI names the whole document */
  node: NodeSelector | null;
  /** the node selector as written (percent-decoded), for error bodies and xcap-diff */
  nodeText: string | null;
}

/** The separator between the document selector and the node selector (RFC 4825 §6). */
const SEPARATOR = '/~~/';

/** A request that is malformed (400); a client must not read it as "absent, safe to create". */
const malformed = (what: string): XcapError => new XcapError(400, null, `Bad Request: ${what}`);

/** A well-formed path that does not name an XCAP resource (404, RFC 4825 §6.2). */
const notAResource = (what: string): XcapError => new XcapError(404, null, `Not an XCAP resource: ${what}`);

function decode(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw malformed(`bad percent-encoding in ${what}`);
  }
}

/**
 * Parses `auid/users/<xui>/<doc>[/~~/<node selector>]` (the part after the XCAP
 * root) and the raw query. Each part is percent-decoded once (RFC 4825 §6.4).
 * Throws an XcapError: 400 for a malformed request (bad encoding, dot segments,
 * a node selector or xmlns() query that does not parse), 404 for a document
 * selector that names no resource.
 */
export function parseXcapPath(rawPath: string, rawQuery = ''): XcapUri {
  const path = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
  const sep = path.indexOf(SEPARATOR);
  const docPart = sep >= 0 ? path.slice(0, sep) : path;
  const nodeRaw = sep >= 0 ? path.slice(sep + SEPARATOR.length) : null;
  const segs = docPart.split('/').map((s, i) => decode(s, `document selector segment ${i + 1}`));
  // RFC 3986 §5.2.4: "." and ".." are removed by the client before a request is sent. One
  // that still carries them (literally or as %2e, §6.2.2.2) would name a document other
  // than the one the owner check read: refused, never normalised on the server.
  if (segs.some((s) => s === '.' || s === '..')) throw malformed('"." and ".." segments are not allowed in a document selector');
  if (segs.length < 3 || segs.some((s) => s === '')) throw notAResource('a document selector is auid/users/<xui>/<document> or auid/global/<document>');
  const [auid, scope] = segs;
  if (scope !== 'users' && scope !== 'global') throw notAResource(`the second segment must be 'users' or 'global', not '${scope}'`);
  const xui = scope === 'users' ? segs[2] : null;
  const docSegs = scope === 'users' ? segs.slice(3) : segs.slice(2);
  if (docSegs.length === 0) throw notAResource('the document selector names no document');
  const nodeText = nodeRaw === null ? null : decode(nodeRaw, 'node selector');
  let node: NodeSelector | null = null;
  if (nodeText !== null) {
    try {
      node = parseNodeSelector(nodeText, decode(rawQuery, 'query'));
    } catch (err) {
      // RFC 4825 §6.3/§6.4: a selector outside the grammar is a bad request, not a missing node
      if (err instanceof SelectorError) throw malformed(`bad node selector: ${err.message}`);
      throw err;
    }
  }
  return { auid, scope, xui, document: docSegs.join('/'), node, nodeText };
}
