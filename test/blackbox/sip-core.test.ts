import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, health, type RunningAppliance } from '../support/appliance.js';
import { RawClient, buildRequest, headerOf } from '../support/raw-client.js';
import { authorize, withAuth } from '../support/digest-client.js';

// Default algorithm order (SHA-256 first), short nonces and small limits to reach every branch.
const CONFIG = { auth: { nonceLifetime: 5, offerAllTo: ['^parley-test-client'] }, sip: { maxBodyBytes: 2000, maxMessageBytes: 4096 } };
const USERS = { alice: 'alice-pw', bob: 'bob-pw', loopy: 'loopy-pw' };
let app: RunningAppliance;

beforeAll(async () => {
  app = await startAppliance({ config: CONFIG, users: USERS });
});
afterAll(async () => {
  await app?.cleanup();
});

const D = 'parley.test';

/** A request as a client that chooses among several challenges (its User-Agent is in `offerAllTo`). */
function asChooser(spec: Parameters<typeof buildRequest>[0]): Parameters<typeof buildRequest>[0] {
  return { ...spec, headers: ['User-Agent: parley-test-client/1', ...(spec.headers ?? [])] };
}

describe('transports (C4)', () => {
  it.each(['TCP', 'TLS'] as const)('answers OPTIONS over %s with Allow, Accept and Server', async (kind) => {
    const c = await RawClient.stream(kind, kind === 'TLS' ? app.tlsPort : app.sipPort);
    const res = await c.request(buildRequest({ method: 'OPTIONS', uri: `sip:${D}`, from: `sip:probe@${D}`, to: `sip:${D}`, transport: kind, localPort: c.localPort }));
    expect(res).toMatch(/^SIP\/2\.0 200 OK/);
    expect(headerOf(res, 'Allow')[0].split(', ').sort()).toEqual(['ACK', 'BYE', 'CANCEL', 'INVITE', 'MESSAGE', 'OPTIONS', 'PUBLISH', 'REFER', 'REGISTER', 'SUBSCRIBE', 'UPDATE']);
    expect(headerOf(res, 'Allow-Events')[0].split(', ').sort()).toEqual(['conference', 'presence', 'presence.winfo', 'xcap-diff']);
    expect(headerOf(res, 'Accept')).toHaveLength(1);
    // no option tags supported: no Supported header at all, rather than an empty one
    expect(res).not.toMatch(/^Supported:/m);
    expect(headerOf(res, 'Server')[0]).toMatch(/^Parley\/\d+\.\d+\.\d+$/);
    c.close();
  });

  it('answers a CRLFCRLF keep-alive ping with a CRLF pong (RFC 5626 §3.5.1)', async () => {
    const c = await RawClient.stream('TCP', app.sipPort);
    c.send('\r\n\r\n');
    expect(await c.next((m) => m === '\r\n')).toBe('\r\n');
    c.close();
  });

  it('answers a framing error on a stream with 400 and closes the connection', async () => {
    const c = await RawClient.stream('TCP', app.sipPort);
    c.send(buildRequest({ method: 'OPTIONS', uri: `sip:${D}`, from: `sip:probe@${D}`, to: `sip:${D}`, transport: 'TCP', localPort: c.localPort }).replace(/Content-Length: 0/, 'Content-Length: -5'));
    expect(await c.next()).toMatch(/^SIP\/2\.0 400 /);
    await expect(c.next(() => false, 3000)).rejects.toThrow(/closed/);
  });

  it('keeps the TLS certificate it generated in the data folder', async () => {
    const { statSync } = await import('node:fs');
    expect(statSync(`${app.dataDir}/tls/self-signed.key`).mode & 0o777).toBe(0o600);
  });
});

describe('transactions (RFC 3261 §17.2)', () => {
  it('matches a retransmission to its transaction by its key alone and answers it with the same response (§17.2.3)', async () => {
    const c = await RawClient.udp(app.sipPort);
    const first = buildRequest({ method: 'OPTIONS', uri: `sip:${D}`, from: `sip:probe@${D}`, to: `sip:${D}`, transport: 'UDP', localPort: c.localPort });
    const answer = await c.request(first);
    expect(answer).toMatch(/^SIP\/2\.0 200 OK/);
    // the same branch, sent-by, method, Call-ID and CSeq: the transaction's copy of the request,
    // damaged after its key (a field that is not part of it); it is the transaction's to answer,
    // not validated and refused as a new request would be
    const again = await c.request(first.replace('Max-Forwards: 70', 'Max-Forwards: seventy'));
    expect(again).toBe(answer);
    // a new request with that damage is a new transaction, validated and refused
    const fresh = buildRequest({ method: 'OPTIONS', uri: `sip:${D}`, from: `sip:probe@${D}`, to: `sip:${D}`, transport: 'UDP', localPort: c.localPort });
    expect(await c.request(fresh.replace('Max-Forwards: 70', 'Max-Forwards: seventy'))).toMatch(/^SIP\/2\.0 400 Malformed Max-Forwards/);
    c.close();
  });
});

describe('Via handling for clients behind NAT', () => {
  it('fills in rport with the source port and adds received (RFC 3581 §4)', async () => {
    const c = await RawClient.udp(app.sipPort);
    const res = await c.request(buildRequest({ method: 'OPTIONS', uri: `sip:${D}`, from: `sip:probe@${D}`, to: `sip:${D}`, transport: 'UDP', localPort: c.localPort }));
    expect(headerOf(res, 'Via')[0]).toMatch(new RegExp(`;rport=${c.localPort};received=127\\.0\\.0\\.1$`));
    c.close();
  });

  it('adds received when the sent-by host is not where the request came from (RFC 3261 §18.2.1)', async () => {
    const c = await RawClient.udp(app.sipPort);
    const req = buildRequest({ method: 'OPTIONS', uri: `sip:${D}`, from: `sip:probe@${D}`, to: `sip:${D}`, transport: 'UDP', localPort: c.localPort })
      .replace(/^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:(\d+);branch=(\S+);rport$/m, 'Via: SIP/2.0/UDP 192.0.2.55:$1;branch=$2, SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKother');
    const res = await c.request(req);
    expect(headerOf(res, 'Via').join(', ')).toEqual(`SIP/2.0/UDP 192.0.2.55:${c.localPort};branch=${/branch=(z9hG4bK[0-9a-f]+)/.exec(req)![1]};received=127.0.0.1, SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKother`);
    c.close();
  });
});

describe('digest authentication (C2, RFC 8760)', () => {
  it('offers MD5 alone to a client not known to choose among challenges (baresip, JsSIP, SIP.js, SIPp)', async () => {
    const c = await RawClient.udp(app.sipPort);
    for (const ua of [[], ['User-Agent: baresip v1.0.0 (x86_64/linux)'], ['User-Agent: JsSIP 3.13.8']]) {
      const res = await c.request(buildRequest({ method: 'REGISTER', uri: `sip:${D}`, from: `sip:alice@${D}`, to: `sip:alice@${D}`, transport: 'UDP', localPort: c.localPort, headers: ua }));
      expect(headerOf(res, 'WWW-Authenticate').map((v) => /algorithm=([\w-]+)/.exec(v)![1])).toEqual(['MD5']);
    }
    c.close();
  });

  it('answers a retransmission of a challenged request with the same challenge, byte for byte', async () => {
    // a client that compares (SIPp does) sees a retransmitted 407, not a second answer to one request
    const c = await RawClient.udp(app.sipPort);
    const message = buildRequest({ method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, body: 'hi' });
    const first = await c.request(message);
    expect(first).toMatch(/^SIP\/2\.0 407 /);
    expect(await c.request(message)).toBe(first);
    c.close();
  });

  it('challenges a MESSAGE before any transaction with what a transaction would answer: copied fields, our tag, Server', async () => {
    const c = await RawClient.udp(app.sipPort);
    // compact names (RFC 3261 §7.3.3) and two Vias, one of them another hop's
    const message = buildRequest({ method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, body: 'hi', callId: 'at-once-1' })
      .replace(/^Via: (.*)$/m, 'v: $1, SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKupstream')
      .replace(/^From: /m, 'f: ')
      .replace(/^To: /m, 't: ');
    const res = await c.request(message);
    expect(res).toMatch(/^SIP\/2\.0 407 Proxy Authentication Required\r\n/);
    expect(headerOf(res, 'Via').join(', ')).toMatch(new RegExp(`^SIP/2\\.0/UDP 127\\.0\\.0\\.1:${c.localPort};branch=z9hG4bK[0-9a-f]+;rport=${c.localPort};received=127\\.0\\.0\\.1, SIP/2\\.0/UDP 198\\.51\\.100\\.1;branch=z9hG4bKupstream$`));
    expect(headerOf(res, 'From')).toEqual([/^f: (.*)$/m.exec(message)![1]]);
    expect(headerOf(res, 'To')[0]).toMatch(new RegExp(`^<sip:bob@${D}>;tag=\\S+$`));
    expect(headerOf(res, 'Call-ID')).toEqual(['at-once-1']);
    expect(headerOf(res, 'CSeq')).toEqual(['1 MESSAGE']);
    expect(headerOf(res, 'Proxy-Authenticate')).toHaveLength(1);
    expect(headerOf(res, 'Server')[0]).toMatch(/^Parley\//);
    expect(headerOf(res, 'Content-Length')).toEqual(['0']);
    c.close();
  });

  it('writes the challenge before any transaction as the transaction writes its own: the same fields in the same order', async () => {
    const c = await RawClient.udp(app.sipPort);
    const spec = { method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, body: 'hi' } as const;
    const atOnce = await c.request(buildRequest(spec));
    // credentials for another realm are no credentials of ours: the handler, in a transaction, challenges
    const ordinary = await c.request(buildRequest({ ...spec, headers: ['Proxy-Authorization: Digest username="alice", realm="elsewhere.test", nonce="n", uri="sip:bob@parley.test", response="0"'] }));
    const names = (res: string) => res.split('\r\n\r\n')[0].split('\r\n').slice(1).map((line) => line.slice(0, line.indexOf(':')));
    expect(ordinary).toMatch(/^SIP\/2\.0 407 Proxy Authentication Required\r\n/);
    expect(names(atOnce)).toEqual(names(ordinary));
    c.close();
  });

  it("adds our To tag when the only tag is the To URI's own parameter", async () => {
    const c = await RawClient.udp(app.sipPort);
    const res = await c.request(buildRequest({ method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D};tag=in-the-uri`, transport: 'UDP', localPort: c.localPort, body: 'hi' }));
    expect(res).toMatch(/^SIP\/2\.0 407 /);
    expect(headerOf(res, 'To')[0]).toMatch(new RegExp(`^<sip:bob@${D};tag=in-the-uri>;tag=\\S+$`));
    c.close();
  });

  it('takes the checks a proxy makes before authentication first: 483, 482, 420, 400 before a challenge', async () => {
    const c = await RawClient.udp(app.sipPort);
    const spec = { method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, body: 'hi' } as const;
    expect(await c.request(buildRequest(spec).replace('Max-Forwards: 70', 'Max-Forwards: 0'))).toMatch(/^SIP\/2\.0 483 /);
    expect(await c.request(buildRequest({ ...spec, headers: ['Proxy-Require: x-unknown-extension'] }))).toMatch(/^SIP\/2\.0 420 /);
    expect(await c.request(buildRequest(spec).replace('Max-Forwards: 70', 'Max-Forwards: 70\r\nExpires: soon'))).toMatch(/^SIP\/2\.0 400 Malformed Expires/);
    // a Via with a branch of ours further down: the request has been here before (RFC 3261 §16.3 step 4)
    const first = await c.request(buildRequest(spec));
    const ours = /;tag=([^;\s]+)/.exec(headerOf(first, 'To')[0])![1];
    const looped = buildRequest(spec).replace(/^(Via: .*)$/m, `$1\r\nVia: SIP/2.0/UDP 127.0.0.1:${app.sipPort};branch=z9hG4bK${ours}`);
    expect(await c.request(looped)).toMatch(/^SIP\/2\.0 482 /);
    c.close();
  });

  it('registers with SHA-256, the algorithm offered first', async () => {
    const c = await RawClient.udp(app.sipPort);
    const { challenge, final } = await withAuth(
      c,
      asChooser({ method: 'REGISTER', uri: `sip:${D}`, from: `sip:alice@${D}`, to: `sip:alice@${D}`, transport: 'UDP', localPort: c.localPort, headers: [`Contact: <sip:alice@127.0.0.1:${c.localPort}>`] }),
      'alice',
      'alice-pw',
    );
    const offered = headerOf(challenge, 'WWW-Authenticate');
    expect(offered.map((v) => /algorithm=([\w-]+)/.exec(v)![1])).toEqual(['SHA-256', 'MD5']);
    expect(final).toMatch(/^SIP\/2\.0 200 OK/);
    c.close();
  });

  it('challenges MESSAGE with 407 and accepts SHA-256 proxy credentials', async () => {
    const c = await RawClient.udp(app.sipPort);
    const { challenge, final } = await withAuth(
      c,
      asChooser({ method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, body: 'sha-256 hello' }),
      'alice',
      'alice-pw',
    );
    expect(challenge).toMatch(/^SIP\/2\.0 407 Proxy Authentication Required/);
    expect(final).toMatch(/^SIP\/2\.0 202 Accepted/);
    c.close();
  });

  it('answers an expired nonce with stale=true', async () => {
    const c = await RawClient.udp(app.sipPort);
    const spec = { method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP' as const, localPort: c.localPort, body: 'late' };
    const challenge = await c.request(buildRequest({ ...spec, cseq: 1 }));
    const authz = authorize(headerOf(challenge, 'Proxy-Authenticate')[0], { method: 'MESSAGE', uri: spec.uri, username: 'alice', password: 'alice-pw' });
    // the nonce's lifetime (auth.nonceLifetime, 5 s here) has to pass: this waits on the clock itself
    await new Promise((r) => setTimeout(r, 6500));
    const res = await c.request(buildRequest({ ...spec, cseq: 2, headers: [`Proxy-Authorization: ${authz}`] }));
    expect(res).toMatch(/^SIP\/2\.0 407/);
    expect(headerOf(res, 'Proxy-Authenticate')[0]).toContain('stale=true');
    c.close();
  }, 20_000);

  it('refuses a From that is not the authenticated user (403)', async () => {
    const c = await RawClient.udp(app.sipPort);
    const callId = 'forged-from';
    const spec = { method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:bob@${D}`, to: `sip:bob@${D}`, transport: 'UDP' as const, localPort: c.localPort, body: 'x', callId };
    const challenge = await c.request(buildRequest({ ...spec, cseq: 1 }));
    const authz = authorize(headerOf(challenge, 'Proxy-Authenticate')[0], { method: 'MESSAGE', uri: spec.uri, username: 'alice', password: 'alice-pw' });
    const res = await c.request(buildRequest({ ...spec, cseq: 2, headers: [`Proxy-Authorization: ${authz}`] }));
    expect(res).toMatch(/^SIP\/2\.0 403 From does not match/);
    c.close();
  });
});

describe('limits and errors (every rejection has a precise status)', () => {
  it('405 with Allow for a method we do not serve, 489 for an event package we do not serve', async () => {
    const c = await RawClient.udp(app.sipPort);
    const res = await c.request(buildRequest({ method: 'INFO', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort }));
    expect(res).toMatch(/^SIP\/2\.0 405 Method Not Allowed/);
    expect(headerOf(res, 'Allow')[0]).toContain('MESSAGE');
    const sub = await c.request(buildRequest({ method: 'SUBSCRIBE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, headers: ['Event: dialog', `Contact: <sip:alice@127.0.0.1:${c.localPort}>`] }));
    expect(sub).toMatch(/^SIP\/2\.0 489 Bad Event/);
    expect(headerOf(sub, 'Allow-Events')[0].split(', ').sort()).toEqual(['conference', 'presence', 'presence.winfo', 'xcap-diff']);
    c.close();
  });

  it('420 with Unsupported for a Require we do not know', async () => {
    const c = await RawClient.udp(app.sipPort);
    const res = await c.request(buildRequest({ method: 'OPTIONS', uri: `sip:${D}`, from: `sip:alice@${D}`, to: `sip:${D}`, transport: 'UDP', localPort: c.localPort, headers: ['Require: teleportation'] }));
    expect(res).toMatch(/^SIP\/2\.0 420 Bad Extension/);
    expect(headerOf(res, 'Unsupported')).toEqual(['teleportation']);
    c.close();
  });

  it('483 when Max-Forwards is exhausted', async () => {
    const c = await RawClient.udp(app.sipPort);
    const res = await c.request(
      buildRequest({ method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, body: 'x' }).replace('Max-Forwards: 70', 'Max-Forwards: 0'),
    );
    expect(res).toMatch(/^SIP\/2\.0 483 Too Many Hops/);
    c.close();
  });

  it('482 when a request comes back to us (a contact that points at the server itself)', async () => {
    const c = await RawClient.udp(app.sipPort);
    const reg = await withAuth(
      c,
      asChooser({ method: 'REGISTER', uri: `sip:${D}`, from: `sip:loopy@${D}`, to: `sip:loopy@${D}`, transport: 'UDP', localPort: c.localPort, headers: [`Contact: <sip:loopy@127.0.0.1:${app.sipPort}>`] }),
      'loopy',
      'loopy-pw',
    );
    expect(reg.final).toMatch(/^SIP\/2\.0 200/);
    const { final } = await withAuth(
      c,
      asChooser({ method: 'MESSAGE', uri: `sip:loopy@${D}`, from: `sip:alice@${D}`, to: `sip:loopy@${D}`, transport: 'UDP', localPort: c.localPort, body: 'round and round' }),
      'alice',
      'alice-pw',
    );
    expect(final).toMatch(/^SIP\/2\.0 482 Loop Detected/);
    c.close();
  });

  it('413 for a body over the limit, 513 for a message over the limit', async () => {
    const c = await RawClient.udp(app.sipPort);
    const big = buildRequest({ method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, body: 'x'.repeat(2500) });
    expect(await c.request(big)).toMatch(/^SIP\/2\.0 413 /);
    const huge = buildRequest({ method: 'MESSAGE', uri: `sip:bob@${D}`, from: `sip:alice@${D}`, to: `sip:bob@${D}`, transport: 'UDP', localPort: c.localPort, body: 'y'.repeat(5000) });
    expect(await c.request(huge)).toMatch(/^SIP\/2\.0 513 Message Too Large/);
    c.close();
  });

  it('404 for a MESSAGE to an unknown user, 416 for an unknown scheme', async () => {
    const c = await RawClient.udp(app.sipPort);
    const { final } = await withAuth(
      c,
      asChooser({ method: 'MESSAGE', uri: `sip:nobody@${D}`, from: `sip:alice@${D}`, to: `sip:nobody@${D}`, transport: 'UDP', localPort: c.localPort, body: 'hello?' }),
      'alice',
      'alice-pw',
    );
    expect(final).toMatch(/^SIP\/2\.0 404 /);
    const res = await c.request(buildRequest({ method: 'MESSAGE', uri: 'im:bob@parley.test', from: `sip:alice@${D}`, to: 'im:bob@parley.test', transport: 'UDP', localPort: c.localPort, body: 'x' }));
    expect(res).toMatch(/^SIP\/2\.0 416 /);
    c.close();
  });

  it('is still healthy after all of that', async () => {
    expect((await health(app)).registrations).toBeGreaterThan(0);
  });
});
