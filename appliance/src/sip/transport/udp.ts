import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import net from 'node:net';
import type { ParseLimits } from '../message/parser.js';
import { parseDatagram } from '../message/parser.js';
import type { Logger } from '../../log.js';
import { type TransportEvents, type Source, flowKey, TransportError, deliver } from './transport-types.js';
import { receiveQueueReader } from './receive-queue.js';
import { loadUdpGate, udpGateError, type UdpGateBinding, type UdpGateChallenge, type UdpGateConfig, type UdpGateHandle } from './udp-gate.js';

/** The queue-delay probe: a datagram no SIP message can start with (a NUL byte), and how often it goes. */
const PROBE = Buffer.from('\0parley-queue-probe ');
const PROBE_MS = 50;
/** The receive buffer asked for, and under which the start-up warns (as Linux reports it: twice the setting). */
const RECEIVE_BUFFER_WANTED = 8 << 20;

/**
 * The socket's name lookup. We only ever send to IP literals (`send` checks), so the answer is
 * the address itself, given at once: node's default (dns.lookup) defers it to the next tick,
 * a closure and a queue entry for every datagram we send.
 */
function literalOnly(address: string, family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, address.includes(':') ? 6 : 4); // send() checked it is an IP literal
}

/**
 * Where a datagram came from. Its flow id is only needed when a registration or a dialog is
 * tied to it, so it is built on first use rather than for every datagram.
 */
class UdpSource implements Source {
  readonly transport = 'UDP' as const;
  private flow: string | null = null;
  newBranch: string | null = null;
  answeredAtOnce = false;

  constructor(
    readonly address: string,
    readonly port: number,
    readonly admittedByGate = false,
  ) {}

  get flowId(): string {
    return (this.flow ??= flowKey('UDP', this.address, this.port));
  }
}

/**
 * Which socket carries UDP: the native one (udp-gate.ts: batched reads and sends, refusals answered
 * where they are read) or node's dgram; 'auto' takes the native one where it was built.
 */
export type UdpEngine = 'auto' | 'native' | 'node';

/** Overload control's hold on new work, kept by the native socket so that it can refuse on its own. */
export interface AdmissionGate {
  /** holds new work back while finishing work goes first (see udp_gate.c, admit_held) */
  defer(maxWaitMs: number, budgetMs: number): void;
  /**
   * Into out (6 or 7 numbers): since the last drain, new work judged, admitted and refused by the socket, and requests
   * answered in a refusal's "dialog"; then, now, the challenges owed an answer and the most that may be (-1, -1
   * while that bound does not apply: udp_gate.c, owed_bound); into a 7th, the new work it challenged itself
   */
  drain(out: Float64Array): void;
  /** what the socket's own answers say, and how long it remembers what it passed on */
  configure(config: UdpGateConfig): void;
}

/** The native socket's own answer to the first half of a call: the digest challenge (udp_gate.c, plan_challenge). */
export interface NativeChallenger {
  /** the challenge it answers itself from now on (UdpGateBinding.challenge) */
  challenge(config: UdpGateChallenge): void;
  /** into out[k] (4 numbers), the challenges it sent to requests of its k-th method since the last call */
  takeChallenged(out: Float64Array): void;
}

/** The native socket once open. */
interface NativeSocket {
  binding: UdpGateBinding;
  handle: UdpGateHandle;
  /** the datagrams of each batch: offset, length, port, address index, admitted by the gate (see UdpGateBinding.start) */
  meta: Int32Array;
}

/** Said once per process: the native socket is missing. */
let warnedNoNative = false;

/** The UDP listener: one socket, one datagram is one message (RFC 3261 §18.3). */
export class UdpTransport {
  private socket: dgram.Socket | null = null;
  private native: NativeSocket | null = null;
  /** where the socket listens (for the probe, which it sends itself) */
  private boundAddress = '';
  private boundPort = 0;
  /** probes sent to ourselves and not yet read back, oldest first: [sequence, sent at] */
  private readonly probes: [number, number][] = [];
  private probeSeq = 0;
  private probeTimer: NodeJS.Timeout | null = null;
  /** the delay the last probe saw */
  private lastDelay = 0;
  /** the kernel's count of bytes queued on the socket (null once it proved unreadable), and the buffer's size as the kernel counts it */
  private queued: (() => number | null | undefined) | null = null;
  private bufferSize = 0;
  /** datagrams waiting for this turn's flush, in the order they were sent: bytes, address, port */
  private outData: Buffer[] = [];
  private outAddress: string[] = [];
  private outPort: number[] = [];

  constructor(
    private readonly events: TransportEvents,
    private readonly limits: ParseLimits,
    private readonly log: Logger,
    private readonly engine: UdpEngine = 'auto',
  ) {}

  /** The native socket's hold on new work, while listening on it (null with node's socket). */
  get gate(): (AdmissionGate & NativeChallenger) | null {
    const native = this.native;
    if (native === null) return null;
    const { binding, handle } = native;
    return {
      defer: (maxWaitMs, budgetMs) => binding.defer(handle, maxWaitMs, budgetMs),
      drain: (out) => binding.drain(handle, out),
      configure: (config) => binding.configure(handle, config),
      challenge: (config) => binding.challenge(handle, config),
      takeChallenged: (out) => binding.takeChallenged(handle, out),
    };
  }

  /** Which socket carries UDP now ('native' or 'node'; null before listening). */
  get engineInUse(): 'native' | 'node' | null {
    return this.native !== null ? 'native' : this.socket !== null ? 'node' : null;
  }

  async listen(address: string, port: number): Promise<number> {
    const binding = this.engine === 'node' ? null : loadUdpGate();
    if (binding === null && this.engine === 'native') throw new TransportError(`sip.udpEngine is 'native', but the native UDP socket is ${udpGateError}`);
    if (binding !== null) return this.listenNative(binding, address, port);
    if (this.engine === 'auto' && !warnedNoNative) {
      warnedNoNative = true;
      this.log.warn({ reason: udpGateError }, "UDP runs on node's socket: the native one is not available (see the README, \"Installing\"); refusing under overload costs more");
    }
    const socket = dgram.createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4', recvBufferSize: RECEIVE_BUFFER_WANTED, sendBufferSize: 8 << 20, lookup: literalOnly });
    this.socket = socket;
    socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo.address, rinfo.port));
    socket.on('error', (err) => this.log.warn({ err }, 'UDP socket error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const granted = socket.getRecvBufferSize();
    const bound = socket.address();
    return this.listening(bound.address, bound.port, granted);
  }

  private listenNative(binding: UdpGateBinding, address: string, port: number): number {
    // throws as node's bind does (err.code EADDRINUSE, …)
    const opened = binding.open(address, port, RECEIVE_BUFFER_WANTED, 8 << 20);
    const native: NativeSocket = { binding, handle: opened.socket, meta: new Int32Array(binding.META * binding.BATCH) };
    this.native = native;
    binding.start(opened.socket, native.meta, (data, count, addresses) => this.onBatch(native, data, count, addresses));
    return this.listening(opened.address, opened.port, opened.receiveBufferSize);
  }

  private listening(address: string, port: number, granted: number): number {
    // Linux gives at most net.core.rmem_max (and reports it doubled): Debian's default, 208 KiB,
    // holds about 180 datagrams, a few milliseconds of a burst, and what overflows is lost and
    // retransmitted by its client 500 ms later (RFC 3261 §17.1.2.2)
    if (granted < RECEIVE_BUFFER_WANTED) {
      this.log.warn(
        { receiveBufferBytes: granted, wantedBytes: RECEIVE_BUFFER_WANTED },
        `the UDP receive buffer is ${Math.round(granted / 1024)} KiB: bursts will be lost; raise net.core.rmem_max to 4194304 or more (see the README, "Operating system settings")`,
      );
    }
    this.boundAddress = address;
    this.boundPort = port;
    this.queued = receiveQueueReader(address, port);
    this.bufferSize = granted;
    return port;
  }

  /** A batch the native socket read and did not answer itself (see UdpGateBinding.start). */
  private onBatch({ binding, meta }: NativeSocket, data: Buffer, count: number, addresses: string[]): void {
    for (let i = 0, m = 0; i < count; i++, m += binding.META) {
      const offset = meta[m];
      this.onDatagram(data.subarray(offset, offset + meta[m + 1]), addresses[meta[m + 3]], meta[m + 2], meta[m + 4] === 1);
    }
  }

  /**
   * How long a datagram waits in our receive queue before we read it: measured by a probe the
   * socket sends itself every 50 ms, which queues behind everything that arrived before it.
   * While a probe is out, its age counts as a lower bound, so a queue that grows (or drops the
   * probe) shows at once. This is the delay every request sees, and what event-loop lag cannot
   * show: under overload the loop's timers stay punctual while the kernel queues.
   */
  backlogMs(): number {
    const oldest = this.probes[0];
    const waiting = oldest === undefined ? 0 : performance.now() - oldest[1];
    // a probe younger than one interval may simply not have been read yet
    return Math.max(this.lastDelay, waiting > PROBE_MS ? waiting : 0);
  }

  /**
   * The share of the socket's receive buffer holding datagrams not yet read (0–1), asked of the
   * kernel now (see receive-queue.ts: one read of /proc/net/udp); 0 where its table cannot be read.
   */
  bufferFill(): number {
    const queued = this.queued?.();
    if (queued === undefined) this.queued = null;
    return queued == null || this.bufferSize <= 0 ? 0 : Math.min(1, queued / this.bufferSize);
  }

  /** Starts measuring the receive queue's delay (for overload control). */
  startProbing(): void {
    if ((this.socket === null && this.native === null) || this.probeTimer !== null) return;
    const address = this.boundAddress;
    const port = this.boundPort;
    const target = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
    this.probeTimer = setInterval(() => {
      const seq = this.probeSeq++;
      this.probes.push([seq, performance.now()]);
      if (this.probes.length > 100) this.probes.shift(); // lost ones: the age above has said it
      // sent at once, not with this turn's answers: its age is the queue's
      const probe = Buffer.concat([PROBE, Buffer.from(String(seq))]);
      if (this.native !== null) this.native.binding.sendMany(this.native.handle, [probe], [target], [port], 1);
      else this.socket?.send(probe, port, target);
    }, PROBE_MS);
    this.probeTimer.unref();
  }

  private probeBack(buf: Buffer): void {
    const seq = Number(buf.subarray(PROBE.length).toString());
    while (this.probes.length > 0 && this.probes[0][0] <= seq) {
      const [s, at] = this.probes.shift()!;
      if (s === seq) this.lastDelay = performance.now() - at;
    }
  }

  private onDatagram(buf: Buffer, address: string, port: number, admittedByGate = false): void {
    if (buf[0] === 0) {
      // our own probe, from our own port: anyone else's NUL-led datagram is not SIP either
      if (this.probeTimer !== null && port === this.boundPort && buf.subarray(0, PROBE.length).equals(PROBE)) this.probeBack(buf);
      return;
    }
    // keep-alive datagrams (RFC 5626 §4.4.1 STUN is not supported; CRLF pings are ignored)
    if (buf.length <= 4 && buf.every((b) => b === 13 || b === 10 || b === 0)) return;
    const source = new UdpSource(address, port, admittedByGate);
    if (this.events.intercept?.(buf, source)) return;
    try {
      deliver(this.events, parseDatagram(buf, this.limits), source);
    } catch (err) {
      this.log.warn({ err, from: source }, 'unparseable datagram dropped');
    }
  }

  send(data: Buffer, address: string, port: number): void {
    if (this.socket === null && this.native === null) throw new TransportError('UDP transport not open');
    if (!net.isIP(address)) throw new TransportError(`not an IP address: ${address}`);
    // checked now, as node's send would: the caller's transaction hears of it (RFC 3261 §17.1.4)
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TransportError(`not a port: ${port}`);
    this.outData.push(data);
    this.outAddress.push(address);
    this.outPort.push(port);
    // the first of this turn asks for the flush
    if (this.outData.length === 1) setImmediate(this.flush);
  }

  /**
   * Sends what was queued since the last turn of the event loop, in order. Sent one by one as the
   * datagrams were made, each one woke its receiver (a process asleep in its poll): on this VM
   * that wake-up cost a third of our CPU per relayed message, while a datagram that finds its
   * receiver already awake is cheap. A turn that read many datagrams now sends its answers back
   * to back, after reading (the delay is that turn's own work, under a millisecond when idle).
   */
  private readonly flush = (): void => {
    const socket = this.socket;
    const data = this.outData;
    const address = this.outAddress;
    const port = this.outPort;
    this.outData = [];
    this.outAddress = [];
    this.outPort = [];
    const native = this.native;
    if (native !== null) {
      if (data.length === 0) return;
      const failed = native.binding.sendMany(native.handle, data, address, port, data.length);
      // as node's socket reports a failed send: logged, the transaction's timers carry on
      if (failed !== null) this.log.warn({ err: failed[1], to: `${address[failed[0]]}:${port[failed[0]]}` }, 'UDP send failed');
      return;
    }
    if (socket === null) return;
    for (let i = 0; i < data.length; i++) {
      try {
        // no callback: a failed send is emitted as 'error' on the socket and logged there
        socket.send(data[i], port[i], address[i]);
      } catch (err) {
        this.log.warn({ err, to: `${address[i]}:${port[i]}` }, 'UDP send failed');
      }
    }
  };

  close(): void {
    // what was answered just before closing still goes out
    this.flush();
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
    this.socket?.close();
    this.socket = null;
    if (this.native !== null) this.native.binding.close(this.native.handle);
    this.native = null;
  }
}
