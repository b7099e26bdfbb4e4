import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { SharedNonces } from '../auth/nonces.js';

/**
 * The native UDP socket (appliance/native/udp-gate/udp_gate.c): reads datagrams in batches, sends
 * them in batches, and answers overload control's refusals and the digest challenge where it reads them. Built by
 * `npm run build` into dist/native; absent without a C compiler, and then node's dgram serves.
 */
export interface UdpGateBinding {
  /** datagrams handed over per call of `onBatch` at most (the `meta` array holds META numbers for each) */
  readonly BATCH: number;
  readonly META: number;
  open(address: string, port: number, receiveBuffer: number, sendBuffer: number): { socket: UdpGateHandle; port: number; address: string; receiveBufferSize: number };
  configure(socket: UdpGateHandle, opts: UdpGateConfig): void;
  /**
   * Starts reading. Each call hands `count` datagrams, copied one after another into `data`: for
   * datagram i, at j = META·i, meta[j] is its offset, meta[j+1] its length, meta[j+2] the sender's
   * port, meta[j+3] the index of the sender's address in `addresses`, and meta[j+4] 1 when the
   * socket held it as new work and admitted it (not to be judged again).
   */
  start(socket: UdpGateHandle, meta: Int32Array, onBatch: (data: Buffer, count: number, addresses: string[]) => void): void;
  /** New work held back while finishing work goes first, refused after maxWaitMs (0: not held); budgetMs: a loop turn's time after which held work waits for the next. While holding, a socket that sends challenges (401, 407) starts held work only while fewer wait for their answer than the process finishes in 50 ms (udp_gate.c, owed_room). */
  defer(socket: UdpGateHandle, maxWaitMs: number, budgetMs: number): void;
  /** Into out (a Float64Array of 6 or 7): counts since the last drain (new work judged, admitted, refused; requests answered inside a refusal's "dialog"), then the challenges owed now and the most that may be, or -1 and -1 while that bound does not apply; into a 7th, the new work it challenged itself since the last drain. */
  drain(socket: UdpGateHandle, out: Float64Array): void;
  /** Sends count datagrams; null, or the index and reason of the first the kernel refused. */
  sendMany(socket: UdpGateHandle, data: Buffer[], addresses: string[], ports: number[], count: number): [number, string] | null;
  /** From now on, answers the requests it can read exactly that the stack would challenge at once (udp_gate.c, plan_challenge). */
  challenge(socket: UdpGateHandle, config: UdpGateChallenge): void;
  /** Into out[k] (a Float64Array of 4), the challenges it sent to requests of `methods[k]` since the last call (a retransmission's answer not counted). */
  takeChallenged(socket: UdpGateHandle, out: Float64Array): void;
  close(socket: UdpGateHandle): void;
}

export interface UdpGateConfig {
  /** the To tag prefix of our refusals (the JavaScript shedder's; the socket's own add `.` and a counter) */
  tagPrefix: string;
  /** the header lines after the copied ones on a 503 (Retry-After, Server), CRLF-ended */
  refusalLines: string;
  /** the same on a 481 to a request inside a refusal's "dialog" */
  dialogLines: string;
  /** how long after a refusal requests inside its "dialog" are looked for (ms, 64·T1) */
  dialogAfterMs: number;
  /** how long the branch of new work passed on is remembered, so that its retransmission is passed on too (ms, 64·T1: Timer J) */
  rememberMs: number;
}

/** Where the nonce goes in UdpGateChallenge.lines. */
export const NONCE_MARK = '\u0001';

/** The challenge the socket answers itself (udp_gate.c, js_challenge): what Stack.answerAtOnce would send. */
export interface UdpGateChallenge {
  /** the methods challenged (at most 4) and the hosts of the Request-URIs that are ours (at most 16) */
  methods: string[];
  hosts: string[];
  /** a branch of ours in a request (a loop) leaves it to the stack */
  ownBranch: string;
  /** the To tag is this, `.` and a counter in base 36 */
  tagPrefix: string;
  /** the status line, without its CRLF */
  status: string;
  /** the lines after the copied ones, NONCE_MARK where the nonce goes: for most clients, and for those `offersAll` names */
  lines: [string, string];
  offersAll: ((userAgent: string) => boolean) | null;
  /** answers go to the source port whether or not the top Via asks for rport (RFC 3581) */
  forceRport: boolean;
  /** how long a challenge is remembered for its retransmissions (ms, 64·T1: Timer J) */
  rememberMs: number;
  /** the parser's limits (ParseLimits): a datagram past them is left to the stack, which refuses it (513, 413) */
  maxMessageBytes: number;
  maxBodyBytes: number;
  nonces: SharedNonces;
}

declare const handleBrand: unique symbol;
export type UdpGateHandle = { readonly [handleBrand]: true };

/** Where the build puts the binary: appliance/dist/native, three folders above this module in src/ and in dist/. */
const BINARY = fileURLToPath(new URL('../../../dist/native/udp_gate.node', import.meta.url));

let loaded: UdpGateBinding | null | undefined;

/** The native socket, or null where it was not built (or fails to load: the reason is in `udpGateError`). */
export function loadUdpGate(): UdpGateBinding | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (!existsSync(BINARY)) {
    udpGateError = `not built (${BINARY} is missing: npm run build, with a C compiler)`;
    return null;
  }
  try {
    loaded = createRequire(import.meta.url)(BINARY) as UdpGateBinding;
  } catch (err) {
    udpGateError = (err as Error).message;
  }
  return loaded;
}

/** Why `loadUdpGate` gave null. */
export let udpGateError = '';
