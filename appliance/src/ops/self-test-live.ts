import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { Config } from '../config/config.js';
import { openStore } from '../store/data-source.js';
import { UserDirectory } from '../core/user-directory.js';
import { UserManagement } from '../core/user-management.js';
import { LocalDomain } from '../core/local-domain.js';
import { DocumentStore } from '../xdms/document-store.js';
import { DeferredStore } from '../im/deferred/deferred-store.js';
import { MessageCipher } from '../im/deferred/message-cipher.js';
import { createLogger } from '../log.js';
import { SipProbe, digestAuthorization } from './sip-probe.js';
import { reachable, type CheckResult } from './self-test-checks.js';

const XCAP_ROOT = '/xcap-root';

/** Retries `fn` until it returns a value, for at most `ms` (the server rereads users every few seconds). */
async function until<T>(fn: () => Promise<T | null>, ms: number): Promise<T | null> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A WebSocket upgrade with the `sip` sub-protocol (RFC 7118 §4). */
function upgrade(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'sip', { handshakeTimeout: 5000, rejectUnauthorized: false });
    ws.once('open', () => {
      const protocol = ws.protocol;
      ws.close();
      resolve(protocol);
    });
    ws.once('error', reject);
  });
}

/**
 * The live round trip against the running server: OPTIONS, a MESSAGE between two throwaway
 * users (made in the store, removed afterwards with whatever they left), an XCAP GET with digest
 * and a WebSocket upgrade. One result per step; a step that cannot run says why.
 */
export async function checkLive(config: Config): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const { sip } = config;
  if (sip.port === 0 || sip.port === 'auto') return [{ name: 'sip', status: 'skip', detail: `sip.port is ${sip.port}: no fixed UDP port to probe` }];
  const server = { host: reachable(sip.bind), port: sip.port };
  const domain = config.domain;
  const probe = await SipProbe.open(server);
  const receiver = await SipProbe.open(server);
  const tag = randomBytes(3).toString('hex');
  const a = { user: `selftest-${tag}-a`, password: randomBytes(12).toString('hex') };
  const b = { user: `selftest-${tag}-b`, password: randomBytes(12).toString('hex') };
  const ds = await openStore(config.dataDir);
  const stored = new DeferredStore(ds, MessageCipher.loadOrCreate(config.dataDir), config.deferred, createLogger('warn'));
  const manage = new UserManagement(
    new UserDirectory(ds, domain),
    // the same clean-up as `parley user remove`: nothing of the throwaway users is left behind
    { deleteDocumentsOf: (aor) => new DocumentStore(ds).deleteOwner(aor), purgeStoredFor: (u) => stored.purgeRecipient(u) },
    new LocalDomain(domain, []),
  );
  try {
    try {
      const res = await probe.request({ method: 'OPTIONS', uri: `sip:${domain}`, from: `sip:selftest@${domain}`, to: `sip:${domain}` });
      out.push({ name: 'sip', status: res.status === 200 ? 'ok' : 'fail', detail: `OPTIONS to ${server.host}:${server.port} over UDP: ${res.status} ${res.reason}` });
    } catch (err) {
      out.push({ name: 'sip', status: 'fail', detail: `OPTIONS to ${server.host}:${server.port} over UDP: ${(err as Error).message} (is parley running? is sip.port right?)` });
      return out;
    }

    await manage.create(a.user, a.password, null);
    await manage.create(b.user, b.password, null);
    const aor = (u: string): string => `sip:${u}@${domain}`;
    const registered = await until(async () => {
      const res = await receiver.request({ method: 'REGISTER', uri: `sip:${domain}`, from: aor(b.user), to: aor(b.user), auth: b, headers: [`Contact: <sip:${b.user}@127.0.0.1:${receiver.localPort}>`, 'Expires: 60'] });
      return res.status === 200 ? res : null;
    }, 15_000);
    if (registered === null) out.push({ name: 'message', status: 'fail', detail: 'a throwaway user could not register within 15 s (are config and server on the same data folder?)' });
    else {
      const body = `parley self-test ${tag}`;
      const res = await probe.request({ method: 'MESSAGE', uri: aor(b.user), from: aor(a.user), to: aor(b.user), auth: a, body, timeoutMs: 15_000 });
      const arrived = res.status === 200 && receiver.received.includes(body);
      out.push({ name: 'message', status: arrived ? 'ok' : 'fail', detail: `REGISTER, then MESSAGE between two throwaway users: ${res.status} ${res.reason}${arrived ? ', delivered' : ', not delivered to the registered device'}` });
      await receiver.request({ method: 'REGISTER', uri: `sip:${domain}`, from: aor(b.user), to: aor(b.user), auth: b, headers: ['Contact: *', 'Expires: 0'] }).catch(() => undefined);
    }

    const { http } = config;
    if (http.port === 0 || http.port === 'auto') out.push({ name: 'xcap', status: 'skip', detail: `http.port is ${http.port}` });
    else {
      const path = `${XCAP_ROOT}/resource-lists/users/${aor(a.user)}/index`;
      const url = `http://${reachable(http.bind ?? sip.bind)}:${http.port}${path}`;
      try {
        const first = await fetch(url);
        const challenge = first.headers.get('www-authenticate')?.split(/,\s*(?=Digest )/)[0] ?? '';
        const res = await fetch(url, { headers: { Authorization: digestAuthorization(challenge, 'GET', path, a) } });
        // 404: no document yet, the answer of a working, authenticated XCAP server (RFC 4825 §8.2.1)
        out.push({ name: 'xcap', status: res.status === 404 || res.status === 200 ? 'ok' : 'fail', detail: `GET ${url} with digest: ${res.status}` });
      } catch (err) {
        out.push({ name: 'xcap', status: 'fail', detail: `GET ${url}: ${(err as Error).message}` });
      }
    }

    const ws = sip.wsPort !== 0 && sip.wsPort !== 'auto' ? `ws://${reachable(sip.bind)}:${sip.wsPort}` : sip.wssPort !== 0 && sip.wssPort !== 'auto' ? `wss://${reachable(sip.bind)}:${sip.wssPort}` : null;
    if (ws === null) out.push({ name: 'websocket', status: 'skip', detail: 'no WS or WSS port configured' });
    else {
      try {
        const protocol = await upgrade(ws);
        out.push({ name: 'websocket', status: protocol === 'sip' ? 'ok' : 'fail', detail: `upgrade at ${ws}: sub-protocol "${protocol}"` });
      } catch (err) {
        out.push({ name: 'websocket', status: 'fail', detail: `upgrade at ${ws}: ${(err as Error).message}` });
      }
    }
  } finally {
    probe.close();
    receiver.close();
    for (const u of [a.user, b.user]) await manage.remove(u).catch(() => undefined);
    await ds.destroy();
  }
  return out;
}
