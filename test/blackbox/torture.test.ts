import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { sippOk, received } from '../support/sipp.js';
import { loadTorture, accepts } from '../support/torture.js';

let app: RunningAppliance;
let sock: dgram.Socket;
const responses: string[] = [];

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw' } });
  sock = dgram.createSocket('udp4');
  sock.on('message', (m) => responses.push(m.toString('latin1')));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
});
afterAll(async () => {
  sock?.close();
  await app?.cleanup();
});

/** The CSeq number of a raw request, to tell apart messages that share a Call-ID (RFC 5118 set). */
function cseqOf(bytes: Buffer): string | null {
  return /^CSeq\s*:\s*(\d+)/im.exec(bytes.toString('latin1'))?.[1] ?? null;
}

/**
 * Final responses that carry one of the Call-IDs (and the CSeq), polled until the first arrives
 * or `ms` pass. A message that must be answered gets 3 s; one the corpus allows to go unanswered
 * gets a bounded 800 ms to show an answer (silence cannot be awaited as a condition).
 */
async function answersFor(callIds: string[], cseq: string | null, ms: number, mustAnswer: boolean): Promise<number[]> {
  const end = Date.now() + ms;
  for (;;) {
    const mine = responses.filter(
      (r) => callIds.some((id) => r.includes(id)) && (cseq === null || new RegExp(`^CSeq: 0*${cseq} `, 'm').test(r)),
    );
    const finals = mine.map((r) => Number(/^SIP\/2\.0 (\d{3})/.exec(r)?.[1] ?? 0)).filter((s) => s >= 200);
    if (finals.length > 0 || Date.now() > end) return finals;
    await new Promise((r) => setTimeout(r, mustAnswer ? 20 : 50));
  }
}

const cases = loadTorture();

describe('RFC 4475 / RFC 5118 torture messages over UDP, byte for byte', () => {
  it.each(cases.map((c) => [`${c.suite} ${c.name}`, c] as const))('%s', async (_n, c) => {
    responses.length = 0;
    sock.send(c.bytes, app.sipPort, '127.0.0.1');
    const mustAnswer = !c.verdict.silence_ok;
    const finals = await answersFor(c.call_ids, cseqOf(c.bytes), mustAnswer ? 3000 : 800, mustAnswer);
    if (c.verdict.accept === 'silence') {
      expect(finals).toEqual([]);
      return;
    }
    if (finals.length === 0) {
      expect(c.verdict.silence_ok, 'no answer').toBe(true);
      return;
    }
    expect(accepts(c.verdict.accept, finals[0]), `answered ${finals[0]}`).toBe(true);
    for (const forbidden of c.verdict.udp_forbidden_call_ids ?? []) {
      expect(responses.some((r) => r.includes(forbidden))).toBe(false);
    }
  });

  it('still answers OPTIONS (SIPp) after all of them', async () => {
    const r = await sippOk({ scenario: 'options.xml', remotePort: app.sipPort, vars: { domain: app.domain } });
    const ok = received(r.messages)[0];
    expect(ok).toMatch(/^SIP\/2\.0 200 OK/);
    expect(ok).toMatch(/^Allow: .*MESSAGE/m);
    expect(ok).toMatch(/^Accept: /m);
    expect(ok).not.toMatch(/^Supported:/m);
  });
});
