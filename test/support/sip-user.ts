import { RawClient, buildRequest, headerOf } from './raw-client.js';
import { authorize } from './digest-client.js';
import type { RunningAppliance } from './appliance.js';

/**
 * The other party in interop tests: a user agent we control, built on RawClient and the
 * tests' own digest code (test/support/digest-client.ts), so that it authenticates with
 * whatever algorithm the appliance offers first. The client under test is never helped by it.
 */
export interface SipUser {
  name: string;
  password: string;
}

/** Sends `spec`, answers one 401/407 challenge (RFC 3261 §22.2, §22.3) and returns the final response. */
export async function withDigest(client: RawClient, spec: Parameters<typeof buildRequest>[0], user: SipUser, timeoutMs: number): Promise<string> {
  const first = await client.request(buildRequest({ ...spec, cseq: 1 }), timeoutMs);
  const status = first.slice(8, 11);
  if (status !== '401' && status !== '407') return first;
  const [challenge, credentials] = status === '401' ? ['WWW-Authenticate', 'Authorization'] : ['Proxy-Authenticate', 'Proxy-Authorization'];
  const value = authorize(headerOf(first, challenge)[0], { method: spec.method, uri: spec.uri, username: user.name, password: user.password });
  return client.request(buildRequest({ ...spec, cseq: 2, headers: [...(spec.headers ?? []), `${credentials}: ${value}`] }), timeoutMs);
}

/**
 * Registers `contact` (host:port of a device, e.g. a SIPp UAS) for `user` over UDP and
 * returns the final response.
 */
export async function registerContact(app: RunningAppliance, user: SipUser, contact: string, expires = 300): Promise<string> {
  const client = await RawClient.udp(app.sipPort);
  try {
    const aor = `sip:${user.name}@${app.domain}`;
    const headers = [`Contact: <sip:${user.name}@${contact}>`, `Expires: ${expires}`];
    const spec = { method: 'REGISTER', uri: `sip:${app.domain}`, from: aor, to: aor, transport: 'UDP' as const, localPort: client.localPort, callId: `reg-${user.name}-${Date.now()}`, headers };
    return await withDigest(client, spec, user, 5000);
  } finally {
    client.close();
  }
}

/** MESSAGEs sent so far: part of each Call-ID, so that concurrent sends never share one */
let sent = 0;

/**
 * Sends a MESSAGE (text/plain unless `opts.contentType`, with any extra `opts.headers`) from `user` to the user `to` of the appliance's domain over UDP
 * and returns the final response. The wait covers the appliance's live delivery window
 * (16 × T1 = 8 s, docs/architecture.md), after which it answers 202 at the latest.
 */
export async function sendMessage(app: RunningAppliance, user: SipUser, to: string, body: string, opts: { contentType?: string; headers?: string[] } = {}): Promise<string> {
  const client = await RawClient.udp(app.sipPort);
  try {
    const spec = {
      method: 'MESSAGE', uri: `sip:${to}@${app.domain}`, from: `sip:${user.name}@${app.domain}`, to: `sip:${to}@${app.domain}`,
      transport: 'UDP' as const, localPort: client.localPort, callId: `msg-${user.name}-${Date.now()}-${++sent}`, body, contentType: opts.contentType, headers: opts.headers,
    };
    return await withDigest(client, spec, user, 12_000);
  } finally {
    client.close();
  }
}
