import { createHash, randomBytes } from 'node:crypto';
import { type RawClient, type RequestSpec, buildRequest, headerOf } from './raw-client.js';

/**
 * A client-side digest computation written independently of the appliance
 * (RFC 7616 §3.4 / RFC 8760), for tests that must not trust the code they test.
 */
export function authorize(
  challengeValue: string,
  o: { method: string; uri: string; username: string; password: string; header?: string; nc?: number; cnonce?: string },
): string {
  const param = (name: string): string | undefined => {
    const m = new RegExp(`${name}=(?:"([^"]*)"|([^,\\s]+))`, 'i').exec(challengeValue);
    return m ? (m[1] ?? m[2]) : undefined;
  };
  const realm = param('realm')!;
  const nonce = param('nonce')!;
  const algorithm = param('algorithm') ?? 'MD5';
  const hashName = algorithm.toUpperCase() === 'SHA-256' ? 'sha256' : 'md5';
  const H = (s: string) => createHash(hashName).update(s).digest('hex');
  const cnonce = o.cnonce ?? randomBytes(8).toString('hex');
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const ha1 = H(`${o.username}:${realm}:${o.password}`);
  const ha2 = H(`${o.method}:${o.uri}`);
  const response = H(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${o.username}", realm="${realm}", nonce="${nonce}", uri="${o.uri}", response="${response}", algorithm=${algorithm}, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
}

/**
 * Sends a request, answers its 401/407 challenge (the first offered algorithm) and returns
 * both responses. The same as sip-core.test.ts's helper, for suites that need it elsewhere.
 */
/** Sends a request, answers its 401/407 challenge (the first offered algorithm) and returns both responses. */
export async function withAuth(c: RawClient, spec: RequestSpec, user: string, password: string): Promise<{ challenge: string; final: string }> {
  const callId = `c${randomBytes(8).toString('hex')}`;
  const challenge = await c.request(buildRequest({ ...spec, callId, cseq: 1 }));
  const header = challenge.startsWith('SIP/2.0 401') ? 'WWW-Authenticate' : 'Proxy-Authenticate';
  const authz = authorize(headerOf(challenge, header)[0], { method: spec.method, uri: spec.uri, username: user, password });
  const credentials = `${header === 'WWW-Authenticate' ? 'Authorization' : 'Proxy-Authorization'}: ${authz}`;
  const final = await c.request(buildRequest({ ...spec, callId, cseq: 2, headers: [...(spec.headers ?? []), credentials] }));
  return { challenge, final };
}
