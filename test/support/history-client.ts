import { RawClient } from './raw-client.js';
import { withDigest } from './sip-user.js';
import { authorize } from './digest-client.js';
import { xcapRequest } from './xcap-client.js';
import type { RunningAppliance } from './appliance.js';

/**
 * Sends a pager MESSAGE from `from` to `to` (user names, password "<user>-pw") over UDP with
 * digest and returns the final response (202 when the recipient is not registered).
 */
export async function pager(app: RunningAppliance, from: string, to: string, body: string, opts: { contentType?: string; headers?: string[] } = {}): Promise<string> {
  const client = await RawClient.udp(app.sipPort);
  try {
    const spec = {
      method: 'MESSAGE', uri: `sip:${to}@${app.domain}`, from: `sip:${from}@${app.domain}`, to: `sip:${to}@${app.domain}`,
      transport: 'UDP' as const, localPort: client.localPort, body, contentType: opts.contentType, headers: opts.headers,
    };
    return await withDigest(client, spec, { name: from, password: `${from}-pw` }, 12_000);
  } finally {
    client.close();
  }
}

/** A GET of the HTTP retrieval API (`path` below /history/) with digest as `user`: status and JSON. */
export async function historyGet(app: RunningAppliance, path: string, user = 'alice'): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = `http://127.0.0.1:${app.httpPort}/history/${path}`;
  const first = await fetch(url);
  let res = first;
  if (first.status === 401) {
    await first.arrayBuffer();
    const challenge = first.headers.get('www-authenticate')!.split(/,\s*(?=Digest )/)[0];
    const target = new URL(url);
    res = await fetch(url, { headers: { Authorization: authorize(challenge, { method: 'GET', uri: target.pathname + target.search, username: user, password: `${user}-pw` }) } });
  }
  const text = await res.text();
  return { status: res.status, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } };
}

/** The user's im-history document (RFC 4825 GET). */
export async function historyDocument(app: RunningAppliance, user = 'alice'): Promise<{ status: number; etag: string; body: string }> {
  const res = await xcapRequest(app, 'GET', `im-history/users/sip:${user}@${app.domain}/index`, { user });
  return { status: res.status, etag: res.headers.get('etag') ?? '', body: await res.text() };
}

/** A `<conversation>` of an im-history document: its attributes as written, and its peers. */
export interface HistoryEntry {
  id: string;
  name: string;
  kind: string;
  recording: string;
  started: string;
  last: string;
  messages: string;
  bytes: string;
  uri: string;
  peers: string[];
}

/** The `<conversation>` elements of an im-history document (or of one element). */
export function conversationsOf(doc: string): HistoryEntry[] {
  return [...doc.matchAll(/<conversation ([^>]*)>(.*?)<\/conversation>/g)].map((m) => {
    const attrs = Object.fromEntries([...m[1].matchAll(/([\w-]+)="([^"]*)"/g)].map((a) => [a[1], a[2].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&amp;/g, '&')]));
    return { ...attrs, peers: [...m[2].matchAll(/<peer>([^<]*)<\/peer>/g)].map((p) => p[1]) } as unknown as HistoryEntry;
  });
}
