import { performance } from 'node:perf_hooks';
import type { SipRequest, SipResponse } from './message/message.js';
import { createResponse } from './message/serializer.js';
import { rawHead, rawResponse, type RawHead } from './message/raw-head.js';
import type { Destination, Source } from './transport/transport-types.js';
import type { OverloadGuard } from './overload-guard.js';
import type { UdpGateConfig } from './transport/udp-gate.js';

/**
 * Where overload control's verdicts turn into answers, all of them stateless (RFC 3261 §21.5.4:
 * 503 with Retry-After; no transaction, no timer). The guard decides; this answers.
 *
 * Refusing must cost far less than serving, or a flood of refusals becomes the overload: a UDP
 * request is judged and refused from its raw header lines before it is parsed (`shedDatagram`);
 * one that came over a connection was already parsed by its framing and is judged whole
 * (`refusal`).
 */
export class LoadShedder {
  /** The header lines of every 503 (RFC 3261 §21.5.4 Retry-After, §20.35 Server), written once. */
  private readonly refusalLines: string;
  /** Server on our 481s to requests inside a refusal's "dialog" ('' for none) */
  private readonly serverLine: string;
  /** the start of every refusal's To tag: `r.` and this process's id */
  private readonly tagPrefix: string;
  private counter = 0;
  /** `=r.<id>`: what a request inside a refusal's "dialog" carries in its To tag, searched for as bytes */
  private readonly tagBytes: Buffer;
  /** when the last refusal was sent (ms, `clock`): requests in its "dialog" are looked for until 64·T1 after it */
  private lastRefusal = -Infinity;

  constructor(
    private readonly guard: OverloadGuard,
    /** a token unique to this process, so that our refusals' To tags are known for ours */
    idPrefix: string,
    private readonly userAgent: string,
    private readonly send: (data: Buffer, dest: Destination) => void,
    /** how long after a refusal a request may still come inside its "dialog" (ms): 64·T1, a client transaction's life */
    private readonly dialogAfterRefusalMs = 32_000,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.tagPrefix = `r.${idPrefix}`;
    this.tagBytes = Buffer.from(`=${this.tagPrefix}`);
    this.serverLine = userAgent ? `Server: ${userAgent}\r\n` : '';
    this.refusalLines = `Retry-After: ${guard.retryAfter}\r\n${this.serverLine}`;
  }

  /**
   * The UDP path: while new work is being refused, a datagram is looked at before it is parsed and
   * a refused request is answered 503 from its raw lines. True when the datagram was dealt with
   * (answered or dropped); false lets it go on to the parser (admitted, or unreadable by the light
   * look, e.g. folded lines: the parse decides those).
   */
  shedDatagram(data: Buffer, source: Source, branch: string | null): boolean {
    // judged already, held and admitted by the native socket
    if (source.admittedByGate === true) return false;
    if (!this.guard.shedding) return this.afterShedding(data, source);
    const head = rawHead(data);
    if (head === null) return false;
    if (this.isRefusalTag(head.toTag)) return this.inRefusalDialog(head, source);
    const verdict = this.guard.judge(head, branch);
    if (verdict === 'admit') return false;
    if (verdict === 'drop') return true;
    this.send(rawResponse(head, 503, 'Service Unavailable', this.refusalTag(), this.refusalLines), udpSource(source));
    return true;
  }

  /**
   * Once the guard admits everything again, the clients refused a moment ago still end their
   * refused calls: SIPp sends its BYE after each 503, tens of thousands under a flood, and the
   * guard has stopped shedding by then. Parsed, transacted and routed to the session handler for
   * their 481, those BYEs cost what new work costs, just when the queue had drained
   * (measured at 3× the sustained rate: goodput fell to 2%). So until 64·T1 after the last refusal
   * a datagram is searched for our refusal tag as bytes (no string made), and only one that has it
   * is looked at line by line and answered like the others.
   */
  private afterShedding(data: Buffer, source: Source): boolean {
    if (this.counter === 0 || this.clock() - this.lastRefusal > this.dialogAfterRefusalMs || data.indexOf(this.tagBytes) < 0) return false;
    const head = rawHead(data);
    return head !== null && this.isRefusalTag(head.toTag) && this.inRefusalDialog(head, source);
  }

  /**
   * What the native UDP socket needs to answer as this does (udp-gate.ts): our tag prefix (its
   * tags add `.` and a counter, so isRefusalTag knows them too), the 503's and the 481's lines.
   */
  get gateConfig(): UdpGateConfig {
    return { tagPrefix: this.tagPrefix, refusalLines: this.refusalLines, dialogLines: this.serverLine, dialogAfterMs: this.dialogAfterRefusalMs, rememberMs: this.dialogAfterRefusalMs };
  }

  /** Whether this process ever refused a request (before that, no request can bear a refusal's tag). */
  get hasRefused(): boolean {
    return this.counter > 0;
  }

  /** Whether a To tag is one of our refusals' (a request bearing it is inside no dialog). */
  isRefusalTag(toTag: string | null | undefined): boolean {
    return toTag != null && toTag.startsWith(this.tagPrefix);
  }

  /** The path after a parse (a request over TCP, TLS or WebSocket): the 503 to answer it with, or null to serve it. */
  refusal(req: SipRequest): SipResponse | null {
    if (this.guard.admits(req)) return null;
    const res = createResponse(req, 503, 'Service Unavailable', this.refusalTag());
    res.headers.set('retry-after', String(this.guard.retryAfter));
    if (this.userAgent) res.headers.set('server', this.userAgent);
    return res;
  }

  /**
   * The To tag of a refusal: recognisable, because a 503 creates no dialog (RFC 3261 §12.1) and a
   * request that carries that tag is inside none. Clients that give up on a refused request may
   * still send one: SIPp sends a BYE for every call it aborts on a 503.
   */
  private refusalTag(): string {
    this.lastRefusal = this.clock();
    return `${this.tagPrefix}${(this.counter++).toString(36)}`;
  }

  /**
   * A request "inside" the dialog of one of our refusals, answered as cheaply as the refusal was:
   * 481, no such dialog (RFC 3261 §12.2.2), from its raw lines and without a transaction; an ACK
   * (of a refused INVITE, §17.1.1.3) is taken without an answer.
   */
  private inRefusalDialog(head: RawHead, source: Source): boolean {
    if (head.method !== 'ACK') this.send(rawResponse(head, 481, 'Call/Transaction Does Not Exist', '', this.serverLine), udpSource(source));
    return true;
  }
}

/** RFC 3581 applied as to every UDP request here: the answer goes to the address and port it came from. */
function udpSource(source: Source): Destination {
  return { transport: 'UDP', address: source.address, port: source.port };
}
