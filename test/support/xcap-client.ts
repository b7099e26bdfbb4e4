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
