import { MsrpError } from './msrp-types.js';

/** An MSRP URI (RFC 4975 §6): `msrp[s]://authority/session-id;transport`. */
export interface MsrpUri {
  secure: boolean;
  host: string;
  port: number | null;
  sessionId: string;
  transport: string;
}

// RFC 4975 §9: session-id = 1*( unreserved / "+" / "=" / "/" ); the port is optional (§6.1)
const URI = /^(msrps?):\/\/(?:[^@/]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?\/([A-Za-z0-9\-._~+=/%]+);([A-Za-z0-9\-.!%*_+`'~]+)$/;

/** Parses one MSRP URI; a malformed one is a 400 (RFC 4975 §7.1, To-Path/From-Path must parse). */
export function parseMsrpUri(text: string): MsrpUri {
  const m = URI.exec(text.trim());
  if (m === null) throw new MsrpError(400, `Bad MSRP URI ${JSON.stringify(text.slice(0, 80))}`);
  const port = m[3] === undefined ? null : Number(m[3]);
  if (port !== null && (port < 1 || port > 65535)) throw new MsrpError(400, 'Bad MSRP URI port');
  return { secure: m[1] === 'msrps', host: m[2].toLowerCase(), port, sessionId: m[4], transport: m[5].toLowerCase() };
}

/** Formats a URI back; the inverse of parseMsrpUri. */
export function formatMsrpUri(u: MsrpUri): string {
  return `${u.secure ? 'msrps' : 'msrp'}://${u.host}${u.port === null ? '' : `:${u.port}`}/${u.sessionId};${u.transport}`;
}

/** paths parsed lately, by their text: a session's requests repeat the same To-Path and From-Path */
const parsedPaths = new Map<string, readonly MsrpUri[]>();
/** past this many, the cache starts afresh (one entry per path text seen: bounded by a clear, not by an LRU) */
const PARSED_PATHS_MAX = 4096;

/**
 * A path (To-Path, From-Path, SDP a=path): URIs separated by spaces (RFC 4975 §9). Every request
 * is routed by its To-Path and checked by its From-Path, and the text is the same for all of a
 * session's requests, so well-formed paths are remembered by their text (the URIs frozen; each
 * call gets its own array). A malformed one throws its 400 every time.
 */
export function parsePath(text: string): MsrpUri[] {
  const known = parsedPaths.get(text);
  if (known !== undefined) return known.slice();
  const parts = text.trim().split(/\s+/).filter((p) => p !== '');
  if (parts.length === 0) throw new MsrpError(400, 'Empty path');
  const uris = parts.map((p) => Object.freeze(parseMsrpUri(p)));
  if (parsedPaths.size >= PARSED_PATHS_MAX) parsedPaths.clear();
  parsedPaths.set(text, uris);
  return uris.slice();
}

/**
 * RFC 4975 §6.1: two MSRP URIs are equal when scheme, host, port and session-id match
 * (host case-insensitively; the session-id case-sensitively); the transport is compared too.
 */
export function sameUri(a: MsrpUri, b: MsrpUri): boolean {
  return a.secure === b.secure && a.host === b.host && (a.port ?? 0) === (b.port ?? 0) && a.sessionId === b.sessionId && a.transport === b.transport;
}
