import { parseNodeSelector, SelectorError, type NodeSelector } from './node-selector.js';

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

function decode(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new SelectorError(`bad percent-encoding in ${what}`);
  }
}

/**
 * Parses `auid/users/<xui>/<doc>[/~~/<node selector>]` (the part after the XCAP
 * root) and the raw query. Each part is percent-decoded once (RFC 4825 §6.4).
 */
export function parseXcapPath(rawPath: string, rawQuery = ''): XcapUri {
  const path = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath;
  const sep = path.indexOf(SEPARATOR);
  const docPart = sep >= 0 ? path.slice(0, sep) : path;
  const nodeRaw = sep >= 0 ? path.slice(sep + SEPARATOR.length) : null;
  const segs = docPart.split('/').map((s, i) => decode(s, `document selector segment ${i + 1}`));
  if (segs.length < 3 || segs.some((s) => s === '')) throw new SelectorError('a document selector is auid/users/<xui>/<document> or auid/global/<document>');
  const [auid, scope] = segs;
  if (scope !== 'users' && scope !== 'global') throw new SelectorError(`the second segment must be 'users' or 'global', not '${scope}'`);
  const xui = scope === 'users' ? segs[2] : null;
  const docSegs = scope === 'users' ? segs.slice(3) : segs.slice(2);
  if (docSegs.length === 0) throw new SelectorError('the document selector names no document');
  const nodeText = nodeRaw === null ? null : decode(nodeRaw, 'node selector');
  const node = nodeText === null ? null : parseNodeSelector(nodeText, decode(rawQuery, 'query'));
  return { auid, scope, xui, document: docSegs.join('/'), node, nodeText };
}
