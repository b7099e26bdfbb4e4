import type { SipRequest, SipResponse } from '../sip/message/message.js';
import type { SipStack } from '../sip/stack.js';
import type { ClientTransaction } from '../sip/transaction/client-transaction.js';
import type { Destination } from '../sip/transport/transport-types.js';
import type { Uri } from '../sip/message/uri.js';
import { destinationFor } from '../sip/dialog/dialog.js';
import type { Binding } from './location-service.js';

export type ForkOutcome =
  | { answered: SipResponse }
  | {
      answered?: undefined;
      /** the best final response received (RFC 3261 §16.7 step 6), or null when none came */
      best: SipResponse | null;
      /** every branch failed as "not reachable now": 408, 480, 503, timeout, transport error */
      unavailable: boolean;
      /** the branches (by index) that got no response at all: timeout, transport error, or none by the deadline */
      unreached: number[];
      /** of those, the ones the transport refused (ICMP unreachable, a connection refused or gone) */
      transportFailed: number[];
    };

/** Statuses that mean the device could not take the message now, so storing it is right (P2). */
const UNAVAILABLE = new Set([408, 480, 503]);

/** Where to send to reach a binding (its flow, or its contact address; never a DNS lookup). */
export function destinationOf(b: Binding, contact: Uri | null): Destination {
  return destinationFor(contact, { transport: b.transport as Destination['transport'], address: b.sourceAddress, port: b.sourcePort, flowId: b.flowId });
}

export interface Branch {
  request: SipRequest;
  destination: Destination;
}

/** Branches for each binding: the same request with the contact as Request-URI (RFC 3261 §16.6). */
export function branchesFor(bindings: Binding[], build: (b: Binding) => SipRequest): Branch[] {
  return bindings.map((b) => {
    const request = build(b);
    return { request, destination: destinationOf(b, request.uri) };
  });
}

/**
 * Sends the branches in parallel and settles on the first 2xx, or when every
 * branch has failed or `timeoutMs` has passed (late branches count as 408).
 * `onResponse`, when given, hears of every branch's final response, also those that come after the
 * fork has settled (a MESSAGE's other branches run on to their end: RFC 3261 §16.7 cancels INVITEs only).
 */
export function fork(stack: SipStack, branches: Branch[], timeoutMs: number, onResponse?: (branch: number) => void): Promise<ForkOutcome> {
  return new Promise((resolve) => {
    let pending = branches.length;
    let settled = false;
    let best: SipResponse | null = null;
    let unavailable = true;
    const txs: ClientTransaction[] = [];
    const responded = new Set<number>();
    const transportFailed: number[] = [];
    // on the stack's shared queue for this duration, not a node timer per message
    const timer = stack.timerQueues.start(timeoutMs, () => finish());
    const finish = (answer?: SipResponse): void => {
      if (settled) return;
      settled = true;
      stack.timerQueues.stop(timer);
      if (answer) resolve({ answered: answer });
      else resolve({ best, unavailable, unreached: branches.map((_, i) => i).filter((i) => !responded.has(i)), transportFailed });
    };
    const failed = (res: SipResponse | null, i: number): void => {
      if (res !== null) {
        responded.add(i);
        if (!UNAVAILABLE.has(res.status)) unavailable = false;
        if (best === null || rank(res.status) < rank(best.status)) best = res;
      }
      if (--pending === 0) finish();
    };
    if (pending === 0) {
      finish();
      return;
    }
    branches.forEach((b, i) => {
      txs.push(
        stack.sendRequest(b.request, b.destination, {
          onFinal: (res) => {
            onResponse?.(i);
            if (res.status < 300) finish(res);
            else failed(res, i);
          },
          onTimeout: () => failed(null, i),
          onTransportError: () => {
            if (!settled) transportFailed.push(i);
            failed(null, i);
          },
        }),
      );
    });
  });
}

/** RFC 3261 §16.7: 6xx beats everything; otherwise the lowest class wins, 5xx last. */
function rank(status: number): number {
  if (status >= 600) return 0;
  if (status >= 500) return 900 + status;
  return status;
}
