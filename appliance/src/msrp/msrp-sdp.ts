import { parse, write, type SessionDescription } from 'sdp-transform';
import { parsePath } from './msrp-uri.js';

/** What an SDP says about its MSRP media line (RFC 4975 §8, RFC 6135, RFC 7701, RFC 7977). */
export interface MsrpMedia {
  /** `TCP/MSRP`, `TCP/TLS/MSRP`, `TCP/WS/MSRP` or `TCP/WSS/MSRP` */
  protocol: string;
  /** a=path: the peer's URIs, first hop first (RFC 4975 §8.2) */
  path: string;
  acceptTypes: string[];
  acceptWrappedTypes: string[];
  /** a=max-size, or null when not given (RFC 4975 §8.6) */
  maxSize: number | null;
  /** a=setup (RFC 4145 §4; absent means active in an offer) */
  setup: 'active' | 'passive' | 'actpass' | 'holdconn';
  /** a=sendonly / recvonly / sendrecv (large message mode sends one way) */
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  /** a=chatroom tokens (RFC 7701 §7), empty when absent */
  chatroom: string[];
}

/** An SDP that does not describe a usable MSRP session; `reason` goes into the 488 (RFC 3264 §6). */
export class SdpError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'SdpError';
  }
}

const PROTOCOLS = new Set(['TCP/MSRP', 'TCP/TLS/MSRP', 'TCP/WS/MSRP', 'TCP/WSS/MSRP']);

/** Reads the first m=message line of an SDP body. Throws SdpError when there is none usable. */
export function readMsrpMedia(body: string): MsrpMedia {
  let sdp: SessionDescription;
  try {
    sdp = parse(body);
  } catch {
    throw new SdpError('Unparseable SDP');
  }
  if (sdp.version !== 0 || !Array.isArray(sdp.media)) throw new SdpError('Not an SDP session description');
  const m = sdp.media.find((x) => x.type === 'message' && x.port !== 0);
  if (m === undefined) throw new SdpError('No MSRP media line (m=message)');
  if (!PROTOCOLS.has(m.protocol.toUpperCase())) throw new SdpError(`Unsupported MSRP transport ${m.protocol}`);
  const attrs = new Map<string, string>();
  for (const a of m.invalid ?? []) {
    const colon = a.value.indexOf(':');
    const name = (colon < 0 ? a.value : a.value.slice(0, colon)).toLowerCase();
    if (!attrs.has(name)) attrs.set(name, colon < 0 ? '' : a.value.slice(colon + 1).trim());
  }
  const path = attrs.get('path');
  if (path === undefined || path === '') throw new SdpError('No a=path in the MSRP media line');
  try {
    parsePath(path);
  } catch {
    throw new SdpError('Malformed a=path');
  }
  const acceptTypes = (attrs.get('accept-types') ?? '').split(/\s+/).filter((t) => t !== '');
  // RFC 4975 §8.6: accept-types MUST be present
  if (acceptTypes.length === 0) throw new SdpError('No a=accept-types');
  const maxText = attrs.get('max-size');
  const maxSize = maxText === undefined ? null : /^\d{1,15}$/.test(maxText) ? Number(maxText) : null;
  if (maxText !== undefined && maxSize === null) throw new SdpError('Malformed a=max-size');
  const setup = (m.setup ?? 'active') as MsrpMedia['setup'];
  if (!['active', 'passive', 'actpass', 'holdconn'].includes(setup)) throw new SdpError('Malformed a=setup');
  const direction = (m.direction ?? sdp.direction ?? 'sendrecv') as MsrpMedia['direction'];
  return {
    protocol: m.protocol.toUpperCase(),
    path,
    acceptTypes,
    acceptWrappedTypes: (attrs.get('accept-wrapped-types') ?? '').split(/\s+/).filter((t) => t !== ''),
    maxSize,
    setup,
    direction,
    chatroom: (attrs.get('chatroom') ?? '').split(/\s+/).filter((t) => t !== ''),
  };
}

/** What we describe in an SDP we write. */
export interface OwnMedia {
  /** our address for o= and c= (RFC 4566 §5.2, §5.7; informative for MSRP, RFC 4975 §8.1) */
  host: string;
  /** the port of our path's first URI (RFC 4975 §8.1: m= port matches a=path), 9 over WebSocket (RFC 7977 §8) */
  port: number;
  protocol: string;
  path: string;
  acceptTypes: string[];
  acceptWrappedTypes?: string[];
  maxSize?: number;
  setup: 'active' | 'passive' | 'actpass';
  direction?: MsrpMedia['direction'];
  chatroom?: string[];
  /** o= session id and version */
  sessionId: number;
  version?: number;
}

/** Writes an SDP with one MSRP media line, via sdp-transform. */
export function writeMsrpSdp(o: OwnMedia): string {
  const ip4 = !o.host.includes(':');
  const invalid: { value: string }[] = [{ value: `accept-types:${o.acceptTypes.join(' ')}` }];
  if (o.acceptWrappedTypes && o.acceptWrappedTypes.length > 0) invalid.push({ value: `accept-wrapped-types:${o.acceptWrappedTypes.join(' ')}` });
  if (o.maxSize !== undefined) invalid.push({ value: `max-size:${o.maxSize}` });
  invalid.push({ value: `path:${o.path}` });
  if (o.chatroom && o.chatroom.length > 0) invalid.push({ value: `chatroom:${o.chatroom.join(' ')}` });
  const sdp: SessionDescription = {
    version: 0,
    origin: { username: '-', sessionId: o.sessionId, sessionVersion: o.version ?? 1, netType: 'IN', ipVer: ip4 ? 4 : 6, address: o.host.replace(/^\[|\]$/g, '') },
    name: '-',
    connection: { version: ip4 ? 4 : 6, ip: o.host.replace(/^\[|\]$/g, '') },
    timing: { start: 0, stop: 0 },
    media: [{ type: 'message', port: o.port, protocol: o.protocol, payloads: '*', rtp: [], fmtp: [], setup: o.setup, direction: o.direction, invalid }],
  };
  return write(sdp);
}

/**
 * Our a=setup in an answer (RFC 4145 §4.1, RFC 6135 §4): passive when the offerer connects
 * (active or actpass: we would rather be reached than reach), active when it waits for us.
 */
export function answerSetup(offered: MsrpMedia['setup']): 'active' | 'passive' {
  if (offered === 'holdconn') throw new SdpError('a=setup:holdconn: no connection to set up');
  return offered === 'passive' ? 'active' : 'passive';
}

/**
 * An SDP written by someone else, with its first MSRP media line's limits replaced (RFC 4975
 * §8.6: a=accept-types, a=accept-wrapped-types, a=max-size) and every other line as it was: for
 * SDP passed on between two clients, narrowed to what the server lets them exchange. A limit
 * the line lacked is added after its accept-types; an empty accept-wrapped-types removes the line.
 */
export function withMsrpLimits(body: string, limits: { acceptTypes: string[]; acceptWrappedTypes: string[]; maxSize: number | null }): string {
  const eol = body.includes('\r\n') ? '\r\n' : '\n';
  const lines = body.split(/\r?\n/);
  const out: string[] = [];
  let state: 'before' | 'in' | 'after' = 'before';
  const pending = new Map<string, string | null>([
    ['accept-types', limits.acceptTypes.join(' ')],
    ['accept-wrapped-types', limits.acceptWrappedTypes.length > 0 ? limits.acceptWrappedTypes.join(' ') : null],
    ['max-size', limits.maxSize === null ? null : String(limits.maxSize)],
  ]);
  const flush = (): void => {
    // limits the media line did not carry, after its other attributes
    for (const [name, value] of pending) if (value !== null) out.push(`a=${name}:${value}`);
    pending.clear();
  };
  for (const line of lines) {
    if (line.startsWith('m=')) {
      if (state === 'in') {
        flush();
        state = 'after';
      }
      // the line readMsrpMedia reads: the first m=message with a port other than 0
      if (state === 'before' && /^m=message [1-9]\d*\s/i.test(line)) state = 'in';
    } else if (state === 'in') {
      const attr = /^a=([a-z-]+):/i.exec(line)?.[1]?.toLowerCase();
      if (attr !== undefined && (attr === 'accept-types' || attr === 'accept-wrapped-types' || attr === 'max-size')) {
        const value = pending.get(attr);
        pending.delete(attr);
        if (value !== null && value !== undefined) out.push(`a=${attr}:${value}`);
        continue;
      }
      if (line === '') {
        flush();
        state = 'after';
      }
    }
    out.push(line);
  }
  if (state === 'in') flush();
  return out.join(eol);
}
