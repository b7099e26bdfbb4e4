import type { RunningAppliance } from './appliance.js';

/**
 * The appliance configuration the interop suite (test/interop/) runs against: the default
 * one, so that it shows what a site gets with no configuration at all. Only the SIP trace
 * is switched on, so that a failure message can show what the client sent.
 *
 * For a local check of another digest set-up, `INTEROP_AUTH_ALGORITHMS` (comma-separated,
 * in order of preference, e.g. `MD5` or `MD5,SHA-256`) sets `auth.algorithms`. It is read
 * here only, and CI never sets it.
 */
export function interopConfig(): Record<string, unknown> {
  const override = process.env.INTEROP_AUTH_ALGORITHMS;
  const auth = override ? { auth: { algorithms: override.split(',').map((a) => a.trim()) } } : {};
  return { log: { level: 'info', traceSip: true }, ...auth };
}

/** One SIP message as the appliance logged it (`log.traceSip`). */
export interface TracedMessage {
  /** 'in': received by the appliance; 'out': sent by it */
  dir: 'in' | 'out';
  /** transport and address of the other end, e.g. "UDP:127.0.0.1:5070" */
  peer: string;
  text: string;
}

/** The SIP messages the appliance has logged so far, in order. */
export function applianceTrace(app: RunningAppliance): TracedMessage[] {
  const out: TracedMessage[] = [];
  for (const line of app.logs) {
    if (!line.startsWith('{') || !line.includes('"sip":')) continue;
    const entry = JSON.parse(line) as { sip?: 'in' | 'out'; peer?: string; msg?: string };
    if (entry.sip && entry.peer && entry.msg) out.push({ dir: entry.sip, peer: entry.peer, text: entry.msg });
  }
  return out;
}

/** The trace limited to one peer's messages, as text for an assertion's failure message. */
export function traceOf(app: RunningAppliance, pred: (m: TracedMessage) => boolean): string {
  return applianceTrace(app)
    .filter(pred)
    .map((m) => `${m.dir === 'in' ? '>>' : '<<'} ${m.peer}\n${m.text}`)
    .join('\n');
}
