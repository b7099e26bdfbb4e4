// The presence part of `npm run bench` (run.mjs --only presence): one PUBLISH fanned out to N
/* global AbortSignal */
// active watchers, the time until the last NOTIFY is received, NOTIFYs lost, and subscriptions
// held per GiB of V8 heap. The watchers are a small UDP driver here (one socket, one dialog per
// watcher, digest on every initial SUBSCRIBE, every NOTIFY answered 200 at once).
import { performance } from 'node:perf_hooks';
import { mkdirSync, writeFileSync, readFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { udpClient, branchOf, callIdOf, credentials } from './udp-digest-client.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const KAMAILIO_TABLES = '/usr/share/kamailio/dbtext/kamailio';

/**
 * @param ctx {{ startParley: Function, KAMAILIO_ALLOCATOR: string[], md5: (s: string) => string, DOMAIN: string, sleep: (ms: number) => Promise<void>, counts: number[], cpuSeconds: (pid: number) => number, sides: { parley: boolean, kamailio: boolean } }}
 */
export async function presenceBench(ctx) {
  const out = {};
  for (const n of ctx.counts) {
    const watchers = Array.from({ length: n }, (_, i) => [`w${i}`, `w${i}-pw`]);
    const users = [['alice', 'alice-pw'], ...watchers];
    if (ctx.sides.parley) {
      console.log(`\n# Presence (R1): one PUBLISH to ${n} watchers — Parley`);
      out[`Parley ${n}`] = await fanOut(ctx, await ctx.startParley(`parley-presence-${n}`, users, '', ['--expose-gc']), watchers);
    }
    if (!ctx.sides.kamailio) continue;
    console.log(`\n# Presence (R1): one PUBLISH to ${n} watchers — Kamailio 5.6 presence + presence_xml`);
    try {
      out[`Kamailio ${n}`] = await fanOut(ctx, await startKamailioPresence(ctx, `kamailio-presence-${n}`, users), watchers);
    } catch (err) {
      console.log(`  Kamailio not measured: ${err.message.split('\n')[0]}`);
    }
  }
  return out;
}

/** Kamailio with its presence modules on db_text (Debian: kamailio-presence-modules). */
async function startKamailioPresence(ctx, name, users) {
  const { md5, DOMAIN } = ctx;
  const dir = path.join(ctx.WORK, name);
  const db = path.join(dir, 'db');
  mkdirSync(db, { recursive: true });
  for (const t of ['version', 'presentity', 'active_watchers', 'watchers', 'xcap']) copyFileSync(path.join(KAMAILIO_TABLES, t), path.join(db, t));
  writeFileSync(
    path.join(db, 'subscriber'),
    'id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) \n' +
      users.map(([u, p], i) => `${i + 1}:${u}:${DOMAIN}:${p}:${md5(`${u}:${DOMAIN}:${p}`)}:${md5(`${u}@${DOMAIN}:${DOMAIN}:${p}`)}`).join('\n') +
      '\n',
  );
  const sipPort = ctx.port();
  const cfg = readFileSync(path.join(HERE, 'kamailio-presence.cfg.tpl'), 'utf8').replaceAll('@PORT@', String(sipPort)).replaceAll('@DBURL@', `text://${db}`);
  writeFileSync(path.join(dir, 'kamailio.cfg'), cfg);
  const k = ctx.run(...ctx.pinned(ctx.SERVER_CORE, 'kamailio', ['-f', path.join(dir, 'kamailio.cfg'), '-DD', '-E', ...ctx.KAMAILIO_ALLOCATOR, '-m', '512', '-M', '16', '-w', dir, '-P', path.join(dir, 'k.pid')]), { detached: true });
  await ctx.sleep(1500);
  if (k.ended() !== null) throw new Error(`kamailio did not start:\n${k.output()}`);
  return { name: 'Kamailio', port: sipPort, pid: k.child.pid, health: null, stop: async () => (k.child.kill('SIGTERM'), await k.done) };
}

/** Subscribes every watcher, then publishes once and times the fan-out. */
async function fanOut(ctx, target, watchers) {
  const { md5, DOMAIN, sleep } = ctx;
  const n = watchers.length;
  {
    // answers matched by branch (each request has its own): a late answer to a retransmitted first request is not the second's
    const client = await udpClient(target.port, { keyOf: branchOf });
    try {
      const local = client.local;
      const seen = new Map(); // call-id -> NOTIFY bodies with the marker seen
      const firstNotify = new Map(); // call-id -> told of its first NOTIFY
      let marker = null;
      let lastAt = 0;
      let got = 0;
      // only the watchers whose SUBSCRIBE got its 200 here count (one that timed out in this driver may still be live on the server)
      const activeIds = new Set();
      client.onRequest = (text) => {
        if (!text.startsWith('NOTIFY ')) return;
        const callId = callIdOf(text);
        client.answer(text); // at once
        if (marker !== null && text.includes(marker) && activeIds.has(callId) && !seen.has(callId)) {
          seen.set(callId, true);
          got++;
          lastAt = performance.now();
        }
        firstNotify.get(callId)?.(text);
      };
      const exchange = (text) => client.exchange(branchOf(text), text, { tries: 6 });
      const digest = (user, password, method, uri, challenge) => credentials({ header: 'Proxy-Authorization', user, password, realm: DOMAIN, method, uri, challenge });
      const subscribe = (user, cseq, extra) =>
        [
          `SUBSCRIBE sip:alice@${DOMAIN} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${user}-${cseq};rport`,
          `From: <sip:${user}@${DOMAIN}>;tag=${user}`,
          `To: <sip:alice@${DOMAIN}>`,
          `Call-ID: ps-${user}`,
          `CSeq: ${cseq} SUBSCRIBE`,
          `Contact: <sip:${user}@127.0.0.1:${local}>`,
          'Event: presence',
          'Accept: application/pidf+xml',
          'Expires: 3600',
          'Max-Forwards: 70',
          ...extra,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n');
      const dbg = (what) => process.env.BENCH_DEBUG && console.log(`  [${new Date().toISOString()}] ${what}`);
      dbg('started');
      const before = target.health ? await target.health(true) : null;
      dbg('health');
      // every watcher may see alice: one rule for the whole domain, over XCAP (Kamailio: force_active)
      if (target.health) await putRules(target, md5, DOMAIN);
      dbg('rules');
      const t0 = performance.now();
      let active = 0;
      const progress = process.env.BENCH_DEBUG ? setInterval(() => console.log(`  … ${next} sent, ${active} active`), 2000) : null;
      let next = 0;
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          while (next < watchers.length) {
            const [user, password] = watchers[next++];
            try {
              const challenge = await exchange(subscribe(user, 1, []));
              const first = new Promise((r) => firstNotify.set(`ps-${user}`, (t) => (firstNotify.delete(`ps-${user}`), r(t))));
              const res = await exchange(subscribe(user, 2, [digest(user, password, 'SUBSCRIBE', `sip:alice@${DOMAIN}`, challenge)]));
              if (process.env.BENCH_DEBUG && !res.startsWith("SIP/2.0 200")) console.log("  SUBSCRIBE:", res.split("\r\n")[0]);
              if (res.startsWith("SIP/2.0 200")) {
                await first;
                active++;
                activeIds.add(`ps-${user}`);
              }
            } catch {
              // counted as not active
            }
          }
        }),
      );
      if (progress) clearInterval(progress);
      const subscribeSeconds = (performance.now() - t0) / 1000;
      const held = target.health ? await target.health(true) : null;
      const heapPerSub = held ? ((held.memory.heapUsedMiB - before.memory.heapUsedMiB) * 2 ** 20) / Math.max(1, active) : NaN;
      console.log(`  ${active} of ${n} watchers active in ${subscribeSeconds.toFixed(1)} s (${(active / subscribeSeconds).toFixed(0)} SUBSCRIBE/s with digest)`);
      // past the NOTIFY rate limit of every subscription (5 s, RFC 3856 §6.4), so the fan-out is not held back
      await sleep(5500);
      marker = `bench-${Date.now()}`;
      const body = `<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@${DOMAIN}"><tuple id="t"><status><basic>open</basic></status><note>${marker}</note></tuple></presence>`;
      const publish = (cseq, extra) =>
        [
          `PUBLISH sip:alice@${DOMAIN} SIP/2.0`,
          `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bKpub-${cseq};rport`,
          `From: <sip:alice@${DOMAIN}>;tag=alice`,
          `To: <sip:alice@${DOMAIN}>`,
          'Call-ID: pub-alice',
          `CSeq: ${cseq} PUBLISH`,
          'Event: presence',
          'Expires: 3600',
          'Max-Forwards: 70',
          'Content-Type: application/pidf+xml',
          ...extra,
          `Content-Length: ${Buffer.byteLength(body)}`,
          '',
          body,
        ].join('\r\n');
      const challenge = await exchange(publish(1, []));
      const authz = digest('alice', 'alice-pw', 'PUBLISH', `sip:alice@${DOMAIN}`, challenge);
      // the server's CPU over the fan-out (user+system, /proc): steadier than wall time on a shared machine
      const cpu0 = target.pid ? ctx.cpuSeconds(target.pid) : NaN;
      const sent = performance.now();
      const res = await exchange(publish(2, [authz]));
      const end = Date.now() + 30_000;
      while (got < active && Date.now() < end) await sleep(5);
      const fanOutMs = lastAt - sent;
      // the 200s to the last NOTIFYs are read and their transactions completed before the reading
      await sleep(200);
      const cpuMs = (ctx.cpuSeconds(target.pid) - cpu0) * 1000;
      console.log(`  PUBLISH ${res.split('\r\n')[0].slice(8)}; ${got} of ${active} NOTIFYs received, the last ${fanOutMs.toFixed(0)} ms after the PUBLISH left; ${active - got} lost; server CPU ${cpuMs.toFixed(0)} ms (PUBLISH to last 200 read, +200 ms)`);
      if (held) console.log(`  heap: ${(heapPerSub / 1024).toFixed(2)} KiB per subscription after GC = ${Math.floor(2 ** 30 / heapPerSub).toLocaleString('en')} subscriptions per GiB`);
      return { active, fanOutMs, cpuMs, received: got, lost: active - got, heapPerSubKiB: heapPerSub / 1024, perGiB: held ? Math.floor(2 ** 30 / heapPerSub) : null };
    } finally {
      client.close();
      await target.stop();
    }
  }
}

/** alice's pres-rules: everyone of the domain allowed, everything provided (one digest-authenticated XCAP PUT). */
async function putRules(target, md5, DOMAIN) {
  const uri = `/xcap-root/pres-rules/users/sip:alice@${DOMAIN}/index`;
  const url = `http://127.0.0.1:${target.httpPort}${uri}`;
  const doc =
    '<?xml version="1.0" encoding="UTF-8"?><cr:ruleset xmlns:cr="urn:ietf:params:xml:ns:common-policy" xmlns:pr="urn:ietf:params:xml:ns:pres-rules">' +
    `<cr:rule id="all"><cr:conditions><cr:identity><cr:many domain="${DOMAIN}"/></cr:identity></cr:conditions><cr:actions><pr:sub-handling>allow</pr:sub-handling></cr:actions>` +
    '<cr:transformations><pr:provide-services><pr:all-services/></pr:provide-services><pr:provide-persons><pr:all-persons/></pr:provide-persons><pr:provide-all-attributes/></cr:transformations></cr:rule></cr:ruleset>';
  const c = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  const nonce = /nonce="([^"]+)"/.exec(c.headers.get('www-authenticate'))[1];
  await c.arrayBuffer();
  const response = md5(`${md5(`alice:${DOMAIN}:alice-pw`)}:${nonce}:00000001:b:auth:${md5(`PUT:${uri}`)}`);
  const authz = `Digest username="alice", realm="${DOMAIN}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="b"`;
  const res = await fetch(url, { method: 'PUT', body: doc, headers: { Authorization: authz, 'Content-Type': 'application/auth-policy+xml' }, signal: AbortSignal.timeout(15_000) });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`pres-rules PUT failed: ${res.status}`);
}
