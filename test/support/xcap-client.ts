import http from 'node:http';
import type { RunningAppliance } from './appliance.js';
import { authorize } from './digest-client.js';

export interface XcapRequest {
  user?: string;
  password?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
}

/**
 * An HTTP request to the appliance's XCAP root with digest auth (401 challenge,
 * then credentials computed independently of the appliance), as any XCAP client does.
 * The password defaults to "<user>-pw", the tests' convention.
 */
export async function xcapRequest(app: RunningAppliance, method: string, path: string, opts: XcapRequest = {}): Promise<Response> {
  const user = opts.user ?? 'alice';
  const url = `http://127.0.0.1:${app.httpPort}/xcap-root/${path}`;
  const body = opts.body as BodyInit | undefined;
  const first = await fetch(url, { method, headers: opts.headers, body });
  if (first.status !== 401) return first;
  await first.arrayBuffer();
  const challenge = first.headers.get('www-authenticate')!.split(/,\s*(?=Digest )/)[0];
  const target = new URL(url);
  const authz = authorize(challenge, { method, uri: target.pathname + target.search, username: user, password: opts.password ?? `${user}-pw` });
  return fetch(url, { method, headers: { ...opts.headers, Authorization: authz }, body });
}

/** What `rawXcapRequest` got back. */
export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function rawOnce(app: RunningAppliance, method: string, target: string, headers: Record<string, string>, body?: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: app.httpPort, method, path: target, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * An XCAP request whose request-target is sent exactly as written (`path` below the
 * XCAP root), with digest auth. `fetch` normalises dot segments (`/../`) on the client
 * side, so requests that must reach the server with them go through `http.request`.
 */
export async function rawXcapRequest(app: RunningAppliance, method: string, path: string, opts: XcapRequest = {}): Promise<RawResponse> {
  const user = opts.user ?? 'alice';
  const target = `/xcap-root/${path}`;
  const first = await rawOnce(app, method, target, opts.headers ?? {}, opts.body);
  if (first.status !== 401) return first;
  const challenge = String(first.headers['www-authenticate']).split(/,\s*(?=Digest )/)[0];
  const authz = authorize(challenge, { method, uri: target, username: user, password: opts.password ?? `${user}-pw` });
  return rawOnce(app, method, target, { ...opts.headers, Authorization: authz }, opts.body);
}
