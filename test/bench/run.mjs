#!/usr/bin/env node
/* global AbortSignal */
// `npm run bench`: Parley and Kamailio under the same SIPp load on loopback.
// Prints figures; asserts nothing about time. Needs the Debian packages sip-tester and kamailio.
//
//   node test/bench/run.mjs [--step-seconds 5] [--only relay,refusal,deferred,memory] [--contacts 10000] [--machine-wait 600]
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync, readFileSync, readdirSync, mkdirSync, rmSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { md5, udpClient, branchOf, credentials, request } from './udp-digest-client.mjs';
import { SERVING_NODE_FLAGS } from '../../appliance/dist/heap-tuning.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
// BENCH_CLI: another build's cli.js (e.g. a copy of the build before a change, for back-to-back runs)
const CLI = process.env.BENCH_CLI ? path.resolve(process.env.BENCH_CLI) : path.join(ROOT, 'appliance/dist/cli.js');
const SCENARIOS = path.join(ROOT, 'test/scenarios');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const STEP_SECONDS = Number(opt('step-seconds', '5'));
/** the longest the bench waits for the machine's fast state, per server searched (see `machine`) */
const MACHINE_WAIT_S = Number(opt('machine-wait', '600'));
if (!Number.isFinite(MACHINE_WAIT_S) || MACHINE_WAIT_S < 0) throw new Error(`--machine-wait takes seconds (a number, 0 or more), not '${opt('machine-wait', '') ?? ''}'`);
const ONLY = new Set(opt('only', 'relay,refusal,deferred,memory,xcap,presence,msrp,room,quota,conversations').split(','));
// the room's figures come with the one-to-one switch rate beside them
if (ONLY.has('room')) ONLY.add('msrp');
const CONTACTS = Number(opt('contacts', '10000'));
const RATES = process.env.BENCH_RATES ? process.env.BENCH_RATES.split(',').map(Number) : [1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 5500, 6000, 7000, 8000, 9000, 10000, 12000, 14000, 16000, 18000, 20000, 22000, 24000, 26000];
const DOMAIN = 'bench.test';
const WORK = mkdtempSync(path.join(os.tmpdir(), 'parley-bench-'));
let nextPort = 31000 + Math.floor(Math.random() * 2000) * 10;
const port = () => nextPort++;
const children = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The servers run on core 0 and the load (SIPp) on core 1 (`taskset`, util-linux), so a server's
 * figures are what one core does, and the load generator never takes the server's CPU: without
 * this, on a 2-core machine an overload step measures SIPp fighting the server for the same cores.
 * `--no-pin` runs everything unpinned.
 */
const PIN = !args.includes('--no-pin') && os.cpus().length >= 2;
const SERVER_CPU = 0;
const SERVER_CORE = ['taskset', '-c', String(SERVER_CPU)];
/** the core both SIPp processes (the load generator: UAC and the device's UAS) are pinned to */
const LOAD_CPU = 1;
const LOAD_CORE = ['taskset', '-c', String(LOAD_CPU)];
function pinned(core, cmd, argv) {
  return PIN ? [core[0], [...core.slice(1), cmd, ...argv]] : [cmd, argv];
}

/**
 * Kamailio's allocator for both its pools. Without -x/-X it uses q_malloc (SR_MEMMNG_DEFAULT), and
 * Debian builds it with DBG_SR_MEMORY, so every alloc and free keeps and checks a record: that
 * tripled Kamailio's CPU per relayed call here (0.32 → 0.10 s per 1,000 with auth, closed loop of
 * 40, 2026-11-30), and sessions 4–8 compared Parley with that. TLSF is what production runs.
 */
const KAMAILIO_ALLOCATOR = ['-x', 'tlsf', '-X', 'tlsf'];

/** Below this many cores busy during an overload step, the server under test was not what ran out. */
const GENERATOR_BOUND_CORES = 0.7;
/**
 * Who offers the overload steps of IM clients (the digest scenario): `native` (im-client.mjs, on
 * the appliance's native socket; the default where it was built) or `sipp` (`--overload-client
 * sipp`). One SIPp core cannot offer 3× the fast state's sustained rate (session 28: its core
 * 96–99.6% busy at 47,700/s, our answers lost in its buffer); alternated with it at 14,000 and
 * 31,800/s the native client read the same within the spread (medians 13,565 and 12,076/s against
 * SIPp's 13,428 and 12,514/s, 3 pairs).
 */
const OVERLOAD_UAC = opt('overload-client', existsSync(path.join(ROOT, 'appliance/dist/native/udp_gate.node')) ? 'native' : 'sipp');
/** The relay's scenario with digest on every MESSAGE (the one im-client.mjs plays too). */
const DIGEST_SCENARIO = path.join(HERE, 'bench-message.xml');
/** Who offers an overload step: OVERLOAD_UAC for IM clients on the digest scenario, SIPp otherwise. */
const overloadUac = (scenario, ends) => (ends === 'im' && scenario === DIGEST_SCENARIO ? OVERLOAD_UAC : 'sipp');
/**
 * Who offers the search for the sustained rate on the digest scenario: `sipp` (the default, as
 * every run before session 31) or `native` (`--search-client native`: im-client.mjs, for both
 * servers), whose calls cost the load core less, so that Kamailio can be taken past what one
 * SIPp offers (about 25,000/s here). With it the search's rates go on past 26,000/s
 * (SEARCH_EXTRA_RATES). The same client offers the 1× reference step before each overload
 * repetition. The scenario without digest is SIPp's either way.
 */
const SEARCH_UAC = opt('search-client', 'sipp');
if (!['sipp', 'native'].includes(SEARCH_UAC)) throw new Error(`--search-client takes sipp or native, not '${SEARCH_UAC}'`);
const SEARCH_EXTRA_RATES = [28000, 30000, 32000, 34000, 36000, 38000, 40000];
const searchUac = (scenario) => (SEARCH_UAC === 'native' && scenario === DIGEST_SCENARIO ? 'native' : 'sipp');
/** SIPp's core this busy over an overload step (or answers lost at SIPp) marks the step as measuring SIPp too. */
const GENERATOR_SATURATED = 0.95;
/** im-client.mjs's retransmissions held by its allowance (see there), as a share of a step's calls, past which the same holds. */
const HELD_RETRANSMISSIONS = 0.01;
/** The retransmissions im-client.mjs's allowance held past a tick, when there were any. */
const heldFigure = (s) => (s.retransmissionsHeld ? ` (${s.retransmissionsHeld} held by the generator's allowance, see im-client.mjs)` : '');

/** children started with `detached` (a process group of their own, killed as a group by cleanup) */
const groups = new WeakSet();

function run(cmd, argv, opts = {}) {
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.add(child);
  if (opts.detached) groups.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise((resolve) => child.once('exit', (code) => (children.delete(child), resolve({ code, out }))));
  // ended(): null while the process runs, else its exit code or the signal that ended it
  return { child, done, output: () => out, ended: () => child.exitCode ?? child.signalCode };
}

function cleanup() {
  for (const c of children) {
    // a process group of its own (Kamailio: its workers too, which its main process, killed
    // outright or already dead, cannot end; a stopped run left them on core 0 with their ports)
    if (groups.has(c)) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // the whole group ended meanwhile
      }
    }
    c.kill('SIGKILL');
  }
  rmSync(WORK, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
// stopped by `timeout` or kill: the appliance, SIPp and Kamailio processes go too
process.on('SIGTERM', () => process.exit(143));

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** CPU seconds (user+system) of a process and its child processes (Kamailio's workers), from /proc. */
function cpuSeconds(pid) {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ');
      if (Number(entry) === pid || Number(f[1]) === pid) total += (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

/**
 * The pinned cores' clocks (/proc/stat, their cpuN lines, in 1/100 s). The server's core: its
 * processes' time, stolen by the hypervisor, and spent in soft interrupts (the same code gave 96%
 * and 69% at 2× in two runs of one afternoon, 2026-12-01: what else the core did in a step is read
 * beside the server's CPU). The load generator's core: whatever was not idle there (SIPp, the
 * kernel's work for it, anything unpinned that ran there), to tell a step SIPp could not offer.
 */
function coreTimes() {
  if (!PIN) return null;
  const lines = readFileSync('/proc/stat', 'utf8').split('\n');
  // user nice system idle iowait irq softirq steal (guest time is inside user and nice)
  const fields = (cpu) => lines.find((l) => l.startsWith(`cpu${cpu} `))?.trim().split(/\s+/).slice(1, 9).map(Number);
  const server = fields(SERVER_CPU);
  const load = fields(LOAD_CPU);
  if (server === undefined || load === undefined) return null;
  const sum = (f) => f.reduce((a, b) => a + b, 0);
  const [user, nice, system, , , , softirq, steal] = server;
  const [, , , loadIdle, loadIowait] = load;
  return {
    serverProcesses: (user + nice + system) / 100,
    total: sum(server) / 100,
    softirq: softirq / 100,
    steal: steal / 100,
    loadNotIdle: (sum(load) - loadIdle - loadIowait) / 100,
    loadTotal: sum(load) / 100,
  };
}

/**
 * What the server core did besides the server from `a` to `b` (coreTimes), given the server's CPU
 * seconds over the same interval: shares of it. This kernel accounts CPU time by tick (no
 * IRQ_TIME_ACCOUNTING), so a soft interrupt that lands while the server runs counts in the
 * server's time and in the core's softirq alike: "other work" leaves interrupts out (it errs low),
 * and the soft interrupts' share partly overlaps the server's own. `generator` is the share of the
 * load generator's core that was not idle (see `coreTimes`): near 100%, the offered rate may not
 * all have been sent, or the device's answers came late; null when its clock did not move.
 */
function coreShares(a, b, serverCpu) {
  if (a === null || b === null || !(b.total > a.total)) return null;
  const span = b.total - a.total;
  const loadSpan = b.loadTotal - a.loadTotal;
  return {
    steal: (b.steal - a.steal) / span,
    softirq: (b.softirq - a.softirq) / span,
    others: Math.max(0, b.serverProcesses - a.serverProcesses - serverCpu) / span,
    generator: loadSpan > 0 ? (b.loadNotIdle - a.loadNotIdle) / loadSpan : null,
  };
}

const pct = (x) => `${(100 * x).toFixed(1)}%`;
const coreFigures = (c) =>
  c === null
    ? ''
    : `; core ${SERVER_CPU}: ${pct(c.steal)} stolen, ${pct(c.softirq)} soft interrupts, ${pct(c.others)} other work` +
      (c.generator === null ? '' : `; the load generator's core ${LOAD_CPU}: ${pct(c.generator)} busy`);

/** CPU use of every process on the machine over the last second, by command (for finding the bottleneck). */
function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').trim();
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A share as a whole percentage; "n/a" where it has no meaning (a reference that completed nothing). */
function percent(share) {
  return Number.isFinite(share) ? `${(100 * share).toFixed(0)}%` : 'n/a';
}

/** The middle one of `items` by `key` (the lower middle of an even count: an item that was measured). */
function medianBy(items, key = (x) => x) {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)];
}

// ---- the systems under test ---------------------------------------------------------------

async function startParley(name, users, extraConfig = '', nodeFlags = [], extraEnv = {}) {
  const dir = path.join(WORK, name);
  mkdirSync(dir);
  const sipPort = port();
  const httpPort = port();
  const env = {
    ...process.env,
    ...extraEnv,
    PARLEY_DATA_DIR: path.join(dir, 'data'),
    PARLEY_DOMAIN: DOMAIN,
    PARLEY_BIND: '127.0.0.1',
    PARLEY_SIP_PORT: String(sipPort),
    PARLEY_SIP_TLS_PORT: '0',
    PARLEY_SIP_WS_PORT: '0',
    PARLEY_SIP_WSS_PORT: '0',
    PARLEY_HTTP_PORT: String(httpPort),
    // ports of their own, so that a bench runs beside other appliances on the machine
    PARLEY_MSRP_PORT: String(port()),
    PARLEY_METRICS_PORT: String(port()),
  };
  const cfg = path.join(dir, 'parley.yaml');
  // SIPp answers only MD5 challenges
  // BENCH_PARLEY_CONFIG: more YAML for the appliance under test (e.g. "sip:\n  overload:\n    maxQueueDelay: 200\n")
  writeFileSync(cfg, `log:\n  level: warn\nauth:\n  algorithms: [MD5]\n${extraConfig}${process.env.BENCH_PARLEY_CONFIG ?? ''}`);
  const csv = path.join(dir, 'users.csv');
  writeFileSync(csv, users.map(([u, p]) => `${u},${p}`).join('\n'));
  execFileSync(process.execPath, [CLI, 'user', 'import', csv], { env });
  // --profile DIR: a V8 CPU profile of the appliance, written to DIR when it stops (open it in Chrome DevTools)
  const profile = opt('profile', null);
  const startedAt = Date.now();
  const extraFlags = [
    // node's flags as `npm start` and the systemd unit give them (BENCH_NODE_FLAGS, later, wins)
    ...SERVING_NODE_FLAGS,
    // --perf FILE: JIT code named for Linux perf (see recordPerf); Node 20 also writes V8's code
    // log with it, into the run's folder rather than the project's
    ...(opt('perf', null) ? ['--perf-basic-prof', '--no-logfile-per-isolate', `--logfile=${path.join(dir, 'v8.log')}`] : []),
    // BENCH_NODE_FLAGS: more V8/Node flags (e.g. "--log-deopt --logfile=/tmp/v8.log"), which NODE_OPTIONS does not take
    ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
    ...(profile ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(profile)] : []),
  ];
  const p = run(...pinned(SERVER_CORE, process.execPath, [...nodeFlags, ...extraFlags, CLI, 'start', '--config', cfg]), { env });
  let up = false;
  // 30 s at least: on a machine shared with other work (load 20 on 2 cores) start-up took over 10 s
  for (let i = 0; i < 300 && !up && p.ended() === null; i++) {
    await sleep(100);
    // bounded: the HTTP port is bound early in start-up, and a request that reaches it before the
    // routes are attached waits for nothing (that hung whole runs)
    up = await fetch(`http://127.0.0.1:${httpPort}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
  }
  if (!up) throw new Error(`parley did not start:\n${p.output()}`);
  return {
    name: 'Parley',
    port: sipPort,
    httpPort,
    pid: p.child.pid,
    // when the process was started: a phase's window in its --profile (profsum.mjs fromSec toSec)
    startedAt,
    // bounded, and tried again once: a request lost on this busy machine must not hang the whole run
    health: async (gc = false) => {
      const get = () => fetch(`http://127.0.0.1:${httpPort}/health${gc ? '?gc=1' : ''}`, { signal: AbortSignal.timeout(15_000) }).then((r) => r.json());
      return get().catch(get);
    },
    stop: async () => {
      p.child.kill('SIGTERM');
      await p.done;
      // BENCH_SERVER_LOG=FILE: what the appliance printed (its warnings, or V8's --trace-gc-nvp lines)
      if (process.env.BENCH_SERVER_LOG) appendFileSync(process.env.BENCH_SERVER_LOG, p.output());
    },
  };
}

async function startKamailio(name, withAuth, users) {
  const dir = path.join(WORK, name);
  const db = path.join(dir, 'db');
  mkdirSync(db, { recursive: true });
  writeFileSync(path.join(db, 'version'), 'id(int,auto) table_name(string) table_version(int) \n0:version:1\n0:subscriber:7\n0:location:9\n');
  writeFileSync(
    path.join(db, 'subscriber'),
    'id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) \n' +
      users.map(([u, p], i) => `${i + 1}:${u}:${DOMAIN}:${p}:${md5(`${u}:${DOMAIN}:${p}`)}:${md5(`${u}@${DOMAIN}:${DOMAIN}:${p}`)}`).join('\n') +
      '\n',
  );
  const sipPort = port();
  const cfg = readFileSync(path.join(HERE, 'kamailio.cfg.tpl'), 'utf8')
    .replaceAll('@PORT@', String(sipPort))
    .replaceAll('@DBURL@', `text://${db}`)
    .replaceAll('@AUTH@', withAuth ? '1' : '0');
  writeFileSync(path.join(dir, 'kamailio.cfg'), cfg);
  // its shared pool must hold every transaction of 10,000/s and more for tm's wait timer (5 s)
  const k = run(...pinned(SERVER_CORE, 'kamailio', ['-f', path.join(dir, 'kamailio.cfg'), '-DD', '-E', ...KAMAILIO_ALLOCATOR, '-m', '4096', '-M', '16', '-w', dir, '-P', path.join(dir, 'k.pid')]), { detached: true });
  await sleep(1500);
  if (k.ended() !== null) throw new Error(`kamailio did not start:\n${k.output()}`);
  return { name: withAuth ? 'Kamailio 5.6 (auth)' : 'Kamailio 5.6 (no auth)', port: sipPort, pid: k.child.pid, stop: async () => (k.child.kill('SIGTERM'), await k.done) };
}

/**
 * The Node floor (`udp-floor-relay.mjs`): the same six datagrams per call with the least
 * JavaScript that makes them, pinned like the servers; its CPU per 1,000 calls is what Node's
 * dgram and this machine's kernel charge for the traffic alone.
 */
async function startFloor() {
  const sipPort = port();
  const f = run(...pinned(SERVER_CORE, process.execPath, [path.join(HERE, 'udp-floor-relay.mjs'), String(sipPort)]));
  await sleep(500);
  if (f.ended() !== null) throw new Error(`the floor relay did not start:\n${f.output()}`);
  return { name: 'Node UDP floor', port: sipPort, pid: f.child.pid, stop: async () => (f.child.kill('SIGTERM'), await f.done) };
}

/** `fn` run with the server recorded by Linux perf (see recordPerf), the recording stopped whatever `fn` does. */
async function recorded(target, suffix, fn) {
  const perf = recordPerf(target, suffix);
  try {
    return await fn();
  } finally {
    await perf.stop();
  }
}

/**
 * `--perf FILE` (with `--closed-loop`): Linux perf samples the server's every thread (cpu-clock,
 * call graphs) over the counted calls, into FILE (`perf report -i FILE`); with `--overload-at`,
 * over each of Parley's steps, into FILE followed by `suffix` (-<rate>-<client>). Unlike the V8 profile
 * (`--profile`, main thread only), it sees inside each send (most of a loopback send is the
 * kernel waking the receiver), the GC's helper threads, malloc and libuv.
 * Needs the Debian package linux-perf; Node names its JIT code for perf with --perf-basic-prof.
 * BENCH_PERF_ARGS replaces the sampling options (default `-F 1999 -g`): `-F 499` alone costs the
 * server far less (no stacks copied), for comparing steps by symbol.
 */
function recordPerf(target, suffix = '') {
  const file = opt('perf', null);
  if (file === null || !target.pid) return { stop: async () => undefined };
  const rec = run('perf', ['record', '-e', 'cpu-clock', ...(process.env.BENCH_PERF_ARGS || '-F 1999 -g').trim().split(/\s+/), '-p', String(target.pid), '-o', path.resolve(file + suffix)]);
  return {
    stop: async () => {
      rec.child.kill('SIGINT');
      const r = await rec.done;
      // perf ends with 0 or with the interrupt's status: what counts is whether it wrote its file
      if (!r.out.includes('Captured and wrote')) console.log(`  perf record failed:\n${r.out.slice(-1000)}`);
    },
  };
}

// ---- SIPp drivers -----------------------------------------------------------------------------

/**
 * What keeps SIPp from being the bottleneck at 10,000+ messages/s: 4 MiB socket buffers (its
 * default 64 KiB overflows at a few thousand/s: RcvbufErrors), and many more receive and
 * scheduling rounds per event-loop turn than its defaults (1,000 each), so a burst is drained at once.
 */
const SIPP_FAST = ['-buff_size', '4194304', '-max_recv_loops', '100000', '-max_sched_loops', '100000'];

/**
 * How the UAC ends a call the server refused (503) in the overload steps, each printed:
 * - `im`: as an IM client does. A MESSAGE makes no dialog, so a final response ends its
 *   transaction and nothing follows (SIPp with its abort BYE switched off, `-default_behaviors
 *   all,-bye`).
 * - `sipp`: SIPp's default, a BYE bearing the 503's To tag for every call it aborts, which the server
 *   reads and answers (481): every refusal then costs two datagrams in and two out. No MESSAGE client
 *   does that; it is the harder case, kept beside the other.
 * The rate steps that look for the sustained rate use `im` too (a passing step refuses nothing).
 */
const REFUSED_CALL_ENDS = {
  im: ['-default_behaviors', 'all,-bye'],
  sipp: [],
};
const CLIENT_LABEL = { im: 'IM client', sipp: "SIPp's BYE after a 503" };

/**
 * Waits until the server is idle again (under 5% of a core over half a second, at most 20 s): a
 * failed or overloaded step leaves queued datagrams, retransmissions and live transactions behind,
 * and the next step should not pay for them. A fixed pause was too short for Kamailio after a
 * failure (its bisection found nothing lower) and longer than needed after a passing step.
 */
async function settle(target) {
  await sleep(500);
  if (!target.pid) return sleep(3000);
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    const c0 = cpuSeconds(target.pid);
    await sleep(500);
    if (cpuSeconds(target.pid) - c0 < 0.025) return;
  }
}

function sipp(target, scenario, extra, vars = {}) {
  // SIPp's default 64 KiB socket buffer overflows at a few thousand messages/s (RcvbufErrors)
  const argv = [`127.0.0.1:${target.port}`, '-sf', scenario, '-i', '127.0.0.1', '-nostdin', '-timeout', '60s', ...SIPP_FAST];
  for (const [k, v] of Object.entries(vars)) argv.push('-set', k, v);
  return run(...pinned(LOAD_CORE, 'sipp', [...argv, ...extra]), { cwd: WORK });
}

async function registerDevice(target, user, password, contactPort) {
  // -auth_uri: the digest uri must be the Request-URI (SIPp would write its remote address)
  const r = await sipp(target, path.join(SCENARIOS, 'register.xml'), ['-p', String(port()), '-m', '1', '-s', user, '-au', user, '-ap', password, '-auth_uri', DOMAIN], {
    domain: DOMAIN,
    expires: '3600',
    contact: `127.0.0.1:${contactPort}`,
  }).done;
  if (r.code !== 0) throw new Error(`REGISTER of ${user} to ${target.name} failed:\n${r.out.slice(-2000)}`);
}

/**
 * The machine's state just now (machine-probe.mjs): µs the kernel takes per loopback datagram on
 * the server's core, run while the server is idle. It moves by half over tens of seconds on this
 * bench's VMs, and a server's figures move with it, so every step is printed with it.
 */
async function machineState() {
  const { code, out } = await run(...pinned(SERVER_CORE, process.execPath, [path.join(HERE, 'machine-probe.mjs')])).done;
  const us = code === 0 ? JSON.parse(out.trim().split('\n').pop()).usPerDatagram : NaN;
  if (Number.isFinite(us)) machine.probes.push(us);
  else console.log(`  (the machine probe failed, exit ${code}: ${out.trim().slice(-200)})`);
  return us;
}

/**
 * The machine's fast state, and how long the bench has waited for it. The fast state is read as
 * the 10th percentile of every probe so far in this run, not the lowest (one unusually fast probe
 * would make every later fast one read slow); a probe more than MACHINE_SLOW times that reads the
 * slow state (10 and 15 µs here: the two never come closer than 1.3). `--machine-wait S` (600)
 * bounds the waiting for each server searched, and one wait is at most two minutes: a machine that
 * stays slow is measured slow, and says so.
 */
const MACHINE_SLOW = 1.2;
const machine = {
  probes: [],
  /** ms waited in all, and for the server being measured now (`startServer` sets it to 0) */
  waitedMs: 0,
  serverWaitedMs: 0,
  budgetMs: MACHINE_WAIT_S * 1000,
  repeats: 0,
  get fastUs() {
    return this.probes.length === 0 ? NaN : percentile([...this.probes].sort((a, b) => a - b), 10);
  },
  startServer() {
    this.serverWaitedMs = 0;
  },
};

/** Waits (bounded, see `machine`) until the probe reads the machine's fast state again. */
async function fastMachine() {
  const until = Date.now() + Math.min(120_000, machine.budgetMs - machine.serverWaitedMs);
  for (;;) {
    const t = Date.now();
    const us = await machineState();
    // a failed probe says nothing of the machine: no wait on it
    const slow = us > MACHINE_SLOW * machine.fastUs;
    if (slow && Date.now() < until) await sleep(Math.min(5_000, until - Date.now()));
    machine.waitedMs += Date.now() - t;
    machine.serverWaitedMs += Date.now() - t;
    if (!slow || Date.now() >= until) return;
  }
}

/**
 * Datagrams the kernel dropped because a socket's receive buffer was full, by local port (IPv4
 * and IPv6 sockets on loopback; /proc/net/udp's "drops" column). A server that falls behind loses
 * requests there, and a load generator that falls behind loses the server's answers: both come
 * back as retransmissions 500 ms later, so each step prints them.
 */
function udpDrops(ports) {
  const found = new Map();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      const local = Number.parseInt(f[1].split(':')[1], 16);
      if (ports.includes(local)) found.set(local, (found.get(local) ?? 0) + Number(f[12]));
    }
  }
  return found;
}

/** One load step: `rate` calls/s for STEP_SECONDS; returns the outcome with response times. */
async function step(target, scenario, rate, to, closed = null, refusedCallEnds = 'im', uac = 'sipp') {
  const local = port();
  const stat = path.join(WORK, `stat-${local}.csv`);
  const total = closed?.total ?? rate * STEP_SECONDS;
  const machineUs = await machineState();
  // the server's CPU when the last call has been offered: an overload step's figures are read
  // over the offered window (see `inWindow`), not over the drain after it
  const offeredMs = closed === null ? (total / rate) * 1000 : 0;
  let cpuAtWindow = NaN;
  let coreAtWindow = null;
  let cpu0 = 0;
  let core0 = null;
  let t0 = 0;
  let begun = false;
  let windowTimer = null;
  /** The step's start: when the UAC offers its first call (SIPp at once, im-client.mjs when warm). */
  const begin = () => {
    begun = true;
    t0 = Date.now();
    cpu0 = target.pid ? cpuSeconds(target.pid) : 0;
    core0 = coreTimes();
    if (offeredMs > 0 && target.pid)
      windowTimer = setTimeout(() => {
        cpuAtWindow = cpuSeconds(target.pid);
        coreAtWindow = coreTimes();
      }, offeredMs);
  };
  // the UAC's socket goes when SIPp exits: its drops are read while it runs
  const serverDrops0 = udpDrops([target.port]).get(target.port) ?? 0;
  let uacDrops = 0;
  const dropsTimer = setInterval(() => (uacDrops = Math.max(uacDrops, udpDrops([local]).get(local) ?? 0)), 250);
  // BENCH_DEBUG: /health's challenges owed (the native socket's bound), read every 50 ms through the step
  const owedReadings = [];
  const owedTimer =
    process.env.BENCH_DEBUG && target.health
      ? setInterval(() => void target.health().then((h) => owedReadings.push(h.overload?.challengesOwed ?? null), () => undefined), 50)
      : null;
  // im-client.mjs: the IM clients on the native socket (see there), where SIPp would be the
  // bottleneck, and where the part registered one (the relay: imuas at target.imUasPort) the
  // called device too: one process on the load core, not two (the SIPp UAS of `to` is left idle).
  // Elsewhere the calls go to `to` itself (the deferred part's offline user, whose messages the
  // server stores: sent to imuas, they were stored for imuas and the bench waited in vain for
  // the offline user's device to be given them, session 37)
  // (its warm-up before the first call, see warm there, is not the step's: the step begins at its
  // `offering` line)
  const callee = target.imUasPort === undefined ? [to] : ['imuas', String(target.imUasPort)];
  const imClient = () => {
    const client = run(...pinned(LOAD_CORE, process.execPath, [path.join(HERE, 'im-client.mjs'), String(target.port), String(local), DOMAIN, 'uac', 'uacpw', callee[0], String(rate), String(total / rate), ...callee.slice(1)]));
    const onOutput = () => {
      if (!client.output().includes('offering')) return;
      client.child.stdout.off('data', onOutput);
      begin();
    };
    client.child.stdout.on('data', onOutput);
    return client.done;
  };
  if (uac !== 'native') begin();
  const r = await (uac === 'native' ? imClient() : sipp(
    target,
    scenario,
    [
      ...['-p', String(local), '-s', 'uac', '-au', 'uac', '-ap', 'uacpw', '-auth_uri', `${to}@${DOMAIN}`, '-r', String(rate), '-m', String(total), '-l', String(closed?.limit ?? rate * 4)],
      ...['-trace_stat', '-stf', stat, '-fd', '1', '-trace_rtt', '-rtt_freq', '1000', ...REFUSED_CALL_ENDS[refusedCallEnds]],
      // BENCH_UAC_ARGS: more SIPp options for the UAC, e.g. `-trace_err -error_file /tmp/uac-errors.log`
      ...(process.env.BENCH_UAC_ARGS?.split(' ').filter(Boolean) ?? []),
    ],
    { domain: DOMAIN, to, body: 'benchmark message' },
  ).done);
  if (!begun) throw new Error(`im-client ended before its first call (${r.code}):\n${r.out.slice(-2000)}`);
  const wall = (Date.now() - t0) / 1000;
  if (windowTimer !== null) clearTimeout(windowTimer);
  clearInterval(dropsTimer);
  if (owedTimer !== null) {
    clearInterval(owedTimer);
    const bounded = owedReadings.filter((o) => o !== null);
    const owed = bounded.map((o) => o.owed);
    const limits = bounded.map((o) => o.limit);
    console.log(
      bounded.length === 0
        ? `  (challenges owed: not bounded in ${owedReadings.length} readings)`
        : `  (challenges owed, read every 50 ms: ${bounded.length} of ${owedReadings.length} readings bounded, mean ${Math.round(owed.reduce((a, b) => a + b, 0) / owed.length)}, peak ${Math.max(...owed)}, limit ${Math.min(...limits)}–${Math.max(...limits)}, ${bounded.filter((o) => o.owed >= o.limit).length} at or past it)`,
    );
  }
  const drops = { server: (udpDrops([target.port]).get(target.port) ?? 0) - serverDrops0, loadGenerator: uacDrops };
  const cpu = target.pid ? cpuSeconds(target.pid) - cpu0 : NaN;
  // over the offered window when there is one (as the server's CPU is read there), else the whole step
  const coreWhole = coreShares(core0, coreTimes(), cpu);
  const core = coreAtWindow !== null ? coreShares(core0, coreAtWindow, cpuAtWindow - cpu0) : coreWhole;
  if (process.env.BENCH_DEBUG) {
    const h = target.health ? await target.health() : null;
    console.log(`  (load: ${loadavg()}${h ? `, overload ${JSON.stringify(h.overload)}, transactions ${JSON.stringify(h.transactions)}, memory ${JSON.stringify(h.memory)}` : ''})`);
  }
  if (uac === 'native') {
    if (r.code !== 0) throw new Error(`im-client failed (${r.code}):\n${r.out.slice(-2000)}`);
    const o = JSON.parse(r.out.trim().split('\n').findLast((l) => l.startsWith('{')));
    const offeredSeconds = offeredMs / 1000;
    if (process.env.BENCH_DEBUG) console.log(`  (im-client: ${o.uasAnswered} answered as the UAS, ${o.ok} completed, ${o.refusedWithCredentials} refused after their challenge; its CPU per second ${JSON.stringify(o.cpuSeconds)} %; per 100 ms completed ${o.okPerTenth.join(" ")}, refused ${o.refusedPerTenth.join(" ")}, retransmitted ${o.retransmittedPerTenth?.join(" ")}, longest tick gap (ms) ${o.tickGapPerTenth?.join(" ")})`);
    const window = { goodput: o.okInWindow / offeredSeconds, seconds: offeredSeconds, perSecond: o.perSecond.slice(0, Math.ceil(offeredSeconds)), cores: Number.isFinite(cpuAtWindow) ? (cpuAtWindow - cpu0) / offeredSeconds : null };
    return { rate, total, ok: o.ok, failed: o.failed + o.refused, achieved: o.ok / wall, failRatio: (total - o.ok) / total, machineUs, drops, p50: o.p50, p99: o.p99, cpu, wall, sippCode: 0, retransmissions: o.retransmissions, retransmissionsHeld: o.retransmissionsHeld, refused: o.refused, window, core, coreWhole, uac };
  }
  const lines = readFileSync(stat, 'utf8').trim().split('\n');
  const head = lines[0].split(';');
  const last = lines.at(-1).split(';');
  const col = (name) => Number(last[head.indexOf(name)]);
  const ok = col('SuccessfulCall(C)');
  const failed = col('FailedCall(C)');
  const window = inWindow(lines, head, offeredMs / 1000, cpuAtWindow - cpu0);
  const rttFile = readdirSync(WORK).find((f) => f.includes(`_rtt.csv`) && !f.startsWith('done-'));
  let rtts = [];
  if (rttFile) {
    rtts = readFileSync(path.join(WORK, rttFile), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => Number(l.split(';')[1]))
      .filter((n) => Number.isFinite(n))
      .sort((a, b) => a - b);
    execFileSync('mv', [path.join(WORK, rttFile), path.join(WORK, `done-${local}-${rttFile}`)]);
  }
  const achieved = ok / wall;
  const failRatio = (failed + (total - ok - failed)) / total;
  if (process.env.BENCH_DEBUG && r.code !== 0) console.log(r.out.slice(-3000));
  // the UAC's retransmissions (a queue past T1 shows here first) and its calls ended by a 503 (SIPp: an unexpected message)
  const retransmissions = col('Retransmissions(C)');
  const refused = col('FailedUnexpectedMessage(C)');
  return { rate, total, ok, failed, achieved, failRatio, machineUs, drops, p50: percentile(rtts, 50), p99: percentile(rtts, 99), cpu, wall, sippCode: r.code, retransmissions, refused, window, core, coreWhole };
}

/**
 * An overload step read over the window in which the load was offered: calls completed with a 2xx
 * per second up to SIPp's last statistics line inside it (one a second, `-fd 1`), and the server's
 * cores over it. After the last call is offered, a step goes on until its slowest call ends (a
 * request lost and retransmitted with Timer E's backoff, or a response late): seconds in which the
 * server is idle and the few calls still open finish. Divided by that whole time, goodput and cores
 * counted the drain as lost capacity: a server busy all through the offered load read as 0.44 cores
 * and "load generator bound" (2026-12-01). Calls admitted in the window and completed after it are
 * left out, so the figure errs low. Null for closed loops, or with no line inside the window.
 */
function inWindow(lines, head, offeredSeconds, cpuInWindow) {
  if (!(offeredSeconds > 0)) return null;
  const startAt = head.indexOf('StartTime');
  const nowAt = head.indexOf('CurrentTime');
  const okAt = head.indexOf('SuccessfulCall(C)');
  const okInPeriodAt = head.indexOf('SuccessfulCall(P)');
  // "date<TAB>time<TAB>epoch seconds" (ElapsedTime is to the whole second)
  const epoch = (field) => Number(field.split('\t').at(-1));
  let best = null;
  // calls completed in each one-second period of the window: the first holds the guard's transient
  const perSecond = [];
  for (const line of lines.slice(1)) {
    const f = line.split(';');
    const elapsed = epoch(f[nowAt]) - epoch(f[startAt]);
    if (elapsed > 0 && elapsed <= offeredSeconds + 0.25) {
      best = { goodput: Number(f[okAt]) / elapsed, seconds: elapsed };
      perSecond.push(Number(f[okInPeriodAt]));
    }
  }
  // the timer that read the server's CPU may not have fired (a step shorter than its window)
  return best === null ? null : { ...best, perSecond, cores: Number.isFinite(cpuInWindow) ? cpuInWindow / offeredSeconds : null };
}

/** An overload step's figures over its offered window (inWindow), for printing. */
function windowFigures(w) {
  return w === null
    ? 'no statistics line inside the offered window'
    : `goodput ${w.goodput.toFixed(0)}/s over the first ${w.seconds.toFixed(1)} s (per second: ${w.perSecond.join(', ')}), server ${w.cores?.toFixed(2) ?? '?'} cores while offered`;
}

/** Whether a step sustained its offered rate: under 1% failed calls, and keeping up (90% or more). */
const passes = (s) => s.failRatio < 0.01 && s.achieved >= 0.9 * s.rate;

/** The machine's state a step ran in (machineState), for printing. */
const machineFigure = (us) => `machine ${Number.isFinite(us) ? us.toFixed(1) : '?'} µs per loopback datagram`;
/** Datagrams lost in full receive buffers during a step (udpDrops), for printing. */
const dropFigure = (d) => `lost in full receive buffers: ${d.server} at the server, ${d.loadGenerator} or more at the UAC`;

function printStep(label, s, note = '') {
  console.log(
    `  ${label.padEnd(26)} ${String(s.rate).padStart(6)}/s offered: ${s.achieved.toFixed(0).padStart(6)}/s done, ` +
      `${(s.failRatio * 100).toFixed(2)}% failed${s.refused > 0 ? ` (${((100 * s.refused) / s.total).toFixed(2)}% refused by 503)` : ''}, p50 ${s.p50} ms, p99 ${s.p99} ms, server CPU ${(s.cpu / s.wall).toFixed(2)} cores${coreFigures(s.coreWhole)}; ${machineFigure(s.machineUs)}; ${dropFigure(s.drops)} ${passes(s) ? '' : '  <- not sustained'}${note}`,
  );
}

/**
 * Steps up the rate until the target fails (>=1% failures or falls behind), then bisects between
 * the last passing step and the first failing one until they are at most 100/s apart (the steps
 * are 500/s wide: 2x and 3x of a step's rate could be far from 2x and 3x of what the server
 * sustains). The best passing step wins. A step fails only when it fails twice (confirmedStep).
 */
async function sustained(target, scenario, to, label) {
  // a warm-up, not counted: a JIT compiler (Node) or a cold cache should not decide the first step
  await step(target, scenario, Math.min(500, RATES[0]), to);
  let best = null;
  let failed = null;
  for (const rate of searchUac(scenario) === 'native' && !process.env.BENCH_RATES ? [...RATES, ...SEARCH_EXTRA_RATES] : RATES) {
    const s = await confirmedStep(target, scenario, rate, to, label, '');
    if (!passes(s)) {
      failed = rate;
      // the step that ended the search found the server not saturated: the limit found is the
      // load generator's (SIPp's one core), not the server's, and the summary says so
      const cores = s.cpu / s.wall;
      if (best !== null && cores < GENERATOR_BOUND_CORES) best.generatorBoundAbove = { rate, serverCores: cores };
      break;
    }
    best = s;
    await settle(target);
  }
  // every step passed: the server's limit lies past the list, and the summary says so (Kamailio
  // passed 18,000/s, then the top, at 0.64 cores on a faster host, 2026-12-02)
  if (failed === null && best !== null) best.topStepPassed = true;
  if (failed === null || process.env.BENCH_RATES) return best;
  let lo = best?.rate ?? 0;
  let hi = failed;
  while (hi - lo > 100) {
    const mid = Math.round((lo + hi) / 100) * 50;
    if (mid <= lo || mid >= hi) break;
    // a failed step leaves a queue and shed load behind: the next one starts on an idle server
    await settle(target);
    const s = await confirmedStep(target, scenario, mid, to, label, ' (bisecting)');
    if (passes(s)) {
      lo = mid;
      s.generatorBoundAbove = best?.generatorBoundAbove;
      best = s;
    } else hi = mid;
  }
  return best;
}

/**
 * A search step whose failure is confirmed before it counts: a failing step is run once more, on
 * an idle server and with the machine in its fast state (fastMachine), and the search goes on if
 * that one passes. One 5 s step can fail on the machine's slow minutes (a third more per datagram)
 * or on a queue left from the step before; the same rule holds for every server searched.
 */
async function confirmedStep(target, scenario, rate, to, label, note) {
  const s = await step(target, scenario, rate, to, null, 'im', searchUac(scenario));
  printStep(label, s, note);
  if (passes(s)) return s;
  machine.repeats++;
  await settle(target);
  await fastMachine();
  const again = await step(target, scenario, rate, to, null, 'im', searchUac(scenario));
  printStep(label, again, `${note} (run again: the first at this rate failed)`);
  return again;
}

// ---- the benchmarks --------------------------------------------------------------------------

const USERS = [
  ['uac', 'uacpw'],
  ['uas', 'uaspw'],
  ['offline', 'offlinepw'],
  // the called device of im-client.mjs's steps, played by im-client.mjs itself (see step)
  ['imuas', 'imuaspw'],
];

async function withDevice(fn) {
  const devicePort = port();
  const dev = run(...pinned(LOAD_CORE, 'sipp', ['-sf', path.join(SCENARIOS, 'message-uas.xml'), '-i', '127.0.0.1', '-p', String(devicePort), '-nostdin', ...SIPP_FAST]), { cwd: WORK });
  await sleep(300);
  // a device that could not start (its port taken) would leave a registered contact nobody answers at
  if (dev.ended() !== null) throw new Error(`the device (SIPp on ${devicePort}) ended at start:\n${dev.output().slice(-2000)}`);
  try {
    return await fn(devicePort, dev);
  } finally {
    dev.child.kill('SIGKILL');
  }
}

async function relayBench() {
  console.log(`\n# MESSAGE relay, UAC -> server -> registered UAS (SIPp, ${STEP_SECONDS} s per step, <1% failures)`);
  const withAuth = DIGEST_SCENARIO;
  const noAuth = path.join(HERE, 'bench-message-noauth.xml');
  const out = {};
  // `--only relay,parley` / `--only relay,kamailio` / `--only relay,floor`: one side of the comparison
  const picked = ['parley', 'kamailio', 'floor'].filter((side) => ONLY.has(side));
  const runs = (side) => picked.length === 0 || picked.includes(side);
  const targets = [
    ...(runs('parley') ? [() => startParley('parley-relay', USERS)] : []),
    ...(runs('kamailio') ? [() => startKamailio('kamailio-auth', true, USERS), () => startKamailio('kamailio-noauth', false, USERS)] : []),
    ...(runs('floor') ? [startFloor] : []),
  ];
  for (const make of targets) {
    const target = await make();
    machine.startServer();
    try {
      out[target.name] = await withDevice(async (devicePort) => {
        // where im-client.mjs answers as the called device: nothing listens there between its steps.
        // Registered first: the floor relay sends every MESSAGE to the last contact registered
        target.imUasPort = port();
        await registerDevice(target, 'imuas', 'imuaspw', target.imUasPort);
        await registerDevice(target, 'uas', 'uaspw', devicePort);
        // BENCH_SCENARIO: another UAC scenario (bench-challenge-only.xml: the 407 half of a call alone)
        const scenario = process.env.BENCH_SCENARIO ? path.resolve(process.env.BENCH_SCENARIO) : target.name.includes('no auth') ? noAuth : withAuth;
        // --closed-loop N: N calls in flight, each next one started when one ends, as fast as the
        // server answers: it never queues, so its CPU per message can be compared on a busy machine
        const closed = Number(opt('closed-loop', '0'));
        if (closed > 0) {
          await step(target, scenario, 500, 'uas');
          const s = await recorded(target, '', () => step(target, scenario, 100_000, 'uas', { limit: closed, total: Number(opt('calls', '10000')) }));
          console.log(`  ${target.name.padEnd(26)} closed loop of ${closed}: ${s.achieved.toFixed(0)}/s, ${(s.failRatio * 100).toFixed(2)}% failed, p50 ${s.p50} ms, p99 ${s.p99} ms, server CPU ${(s.cpu / (s.ok / 1000)).toFixed(3)} s per 1,000 relayed`);
          return s;
        }
        // --overload-at R1,R2: fixed offered rates instead of multiples of a measured sustained
        // rate (which moves in 500/s steps with the neighbours' load): absolute goodput and the
        // server's CPU per goodput message, comparable between builds run back to back
        const fixed = opt('overload-at', null);
        if (fixed !== null) {
          await step(target, scenario, 500, 'uas');
          const res = [];
          for (const rate of fixed.split(',').map(Number)) {
            // BENCH_CALL_ENDS=im: one client's steps only (A/B runs of a guard change)
            for (const ends of Object.keys(REFUSED_CALL_ENDS).filter((e) => !process.env.BENCH_CALL_ENDS || process.env.BENCH_CALL_ENDS.split(',').includes(e))) {
              await settle(target);
              // --perf FILE: each of Parley's steps recorded into FILE-<rate>-<client> (Kamailio's
              // workers are other processes), the whole step with its drain
              const once = () => step(target, scenario, rate, 'uas', null, ends, overloadUac(scenario, ends));
              const s = target.name === 'Parley' ? await recorded(target, `-${rate}-${ends}`, once) : await once();
              const goodput = s.ok / s.wall;
              const w = s.window;
              res.push({ offered: rate, refusedCallEnds: ends, machineUs: s.machineUs, drops: s.drops, goodput: w?.goodput ?? goodput, wholeStepGoodput: goodput, p50: s.p50, p99: s.p99, cpuPerKGood: s.cpu / (s.ok / 1000), cores: w?.cores ?? s.cpu / s.wall });
              console.log(
                `  ${target.name.padEnd(26)} ${String(rate).padStart(6)}/s offered, ${CLIENT_LABEL[ends]}: ${windowFigures(w)}${coreFigures(s.core)}; ${machineFigure(s.machineUs)}; ${dropFigure(s.drops)}; whole step (${s.wall.toFixed(1)} s) ${goodput.toFixed(0)}/s, p50 ${s.p50} ms, p99 ${s.p99} ms, ${(s.failRatio * 100).toFixed(1)}% refused or failed ` +
                  `(${((100 * s.refused) / s.total).toFixed(1)}% refused), UAC retransmissions ${s.retransmissions}${heldFigure(s)}, server ${(s.cpu / s.wall).toFixed(2)} cores, ${(s.cpu / (s.ok / 1000)).toFixed(3)} s per 1,000 completed`,
              );
            }
          }
          return res;
        }
        const best = await sustained(target, scenario, 'uas', target.name);
        // --no-overload: the sustained rate and its CPU per message only (comparing builds)
        if (best === null || target.name.includes('no auth') || target.name.includes('floor') || args.includes('--no-overload')) return best;
        // overload (RFC 3261 §21.5.4): twice and three times the sustained rate; goodput is what
        // still completes (2xx) per second, with the p99 of those answered
        best.overload = [];
        // Each overload step is run `--overload-reps` times (3) for Parley and its median kept: the
        // machine's own per-datagram cost moves by half within a minute (machineState), and one
        // 5 s step read a fast or a slow moment of it. Kamailio, with no overload control
        // configured, completes next to nothing at 2× and 3× and takes up to a minute to drain
        // each step: run once.
        const reps = target.name === 'Parley' ? Number(opt('overload-reps', '3')) : 1;
        for (const k of [2, 3]) {
          for (const ends of Object.keys(REFUSED_CALL_ENDS)) {
            const runs = [];
            for (let rep = 0; rep < reps; rep++) {
              // the sustained rate again, just before: what the server completes at 1× in the
              // machine's state of this moment (the search may have run in another, see machineState)
              await settle(target);
              // the reference (and the overload step right after it) in the machine's fast state,
              // if it comes back within this server's bound (see fastMachine)
              await fastMachine();
              // offered by the search's own client: S was found with it, and a SIPp reference just
              // after SIPp's saturated BYE steps stalled (152 and 0 calls/s completed, session 35)
              const reference = await step(target, scenario, best.rate, 'uas', null, 'im', searchUac(scenario));
              await settle(target);
              const s = await step(target, scenario, Math.round(k * best.rate), 'uas', null, ends, overloadUac(scenario, ends));
              // read over the offered window (see inWindow); the whole step's figures beside them
              const whole = s.ok / s.wall;
              const goodput = s.window?.goodput ?? whole;
              const cores = s.window?.cores ?? s.cpu / s.wall;
              // an overloaded server on its pinned core is busy all the time; one that is not was never
              // offered the load (SIPp's own core ran out first: Kamailio at 28,000/s and more)
              const generatorBound = cores < GENERATOR_BOUND_CORES;
              // the server busy and the load generator too: SIPp's core all but full, or answers lost in
              // its receive buffer (each comes back as a retransmission), measures SIPp as much as the
              // server (Parley at 47,700/s, session 28: SIPp's core 96–99.6%, 37,683–286,010 answers lost);
              // so do im-client.mjs's retransmissions held by its allowance past 1% of the calls
              const generatorSaturated = !generatorBound && ((s.core?.generator ?? 0) >= GENERATOR_SATURATED || (s.drops?.loadGenerator ?? 0) > 0 || (s.retransmissionsHeld ?? 0) > HELD_RETRANSMISSIONS * s.total);
              const referenceGoodput = reference.window?.goodput ?? reference.achieved;
              const referenceCores = reference.window?.cores ?? reference.cpu / reference.wall;
              runs.push({ factor: k, refusedCallEnds: ends, drops: s.drops, offered: s.rate, goodput, ofSustained: goodput / best.achieved, referenceGoodput, ofReference: referenceGoodput > 0 ? goodput / referenceGoodput : NaN, referenceMachineUs: reference.machineUs, referenceCores, wholeStepGoodput: whole, p99: s.p99, serverCores: cores, serverCore: s.core, generatorBound, generatorSaturated, machineUs: s.machineUs, retransmissions: s.retransmissions, retransmissionsHeld: s.retransmissionsHeld });
              console.log(
                `  ${target.name.padEnd(26)} ${k}x overload (${s.rate}/s offered), ${CLIENT_LABEL[ends]}: goodput ${goodput.toFixed(0)}/s (${((100 * goodput) / best.achieved).toFixed(0)}% of sustained; ` +
                  `${percent(goodput / referenceGoodput)} of the ${referenceGoodput.toFixed(0)}/s completed at 1× just before, ${machineFigure(reference.machineUs)}), ` +
                  `p99 ${s.p99} ms, ${(s.failRatio * 100).toFixed(1)}% refused or failed, server CPU ${cores.toFixed(2)} cores while offered${coreFigures(s.core)}` +
                  `${s.window ? ` (completed per second: ${s.window.perSecond.join(', ')})` : ''}; ` +
                  `whole step (${s.wall.toFixed(1)} s): ${whole.toFixed(0)}/s, ${(s.cpu / s.wall).toFixed(2)} cores; UAC retransmissions ${s.retransmissions}${heldFigure(s)}; ${machineFigure(s.machineUs)}; ${dropFigure(s.drops)}` +
                  (generatorBound ? ' (load generator bound: the server was not saturated, so this says nothing about it)' : '') +
                  (generatorSaturated ? ' (load generator saturated too: it fell behind, so this measures it as much as the server)' : ''),
              );
            }
            const median = medianBy(runs, (r) => r.goodput);
            // the median of the steps the generator carried too: one that collapsed under its own load
            // (bound) says nothing of the server, and the median of all of them may be such a step
            const carried = runs.filter((r) => !r.generatorBound);
            const carriedMedian = carried.length > 0 && carried.length < runs.length ? medianBy(carried, (r) => r.goodput) : null;
            best.overload.push({
              ...median,
              carried: carriedMedian === null ? null : { count: carried.length, goodput: carriedMedian.goodput, ofSustained: carriedMedian.ofSustained, ofReference: carriedMedian.ofReference, p99: carriedMedian.p99 },
              runs: runs.map((r) => ({ goodput: r.goodput, ofSustained: r.ofSustained, ofReference: r.ofReference, p99: r.p99, machineUs: r.machineUs, drops: r.drops, generatorSaturated: r.generatorSaturated, generatorBound: r.generatorBound })),
            });
          }
        }
        return best;
      });
    } finally {
      await target.stop();
    }
  }
  return out;
}

/**
 * What refusing costs (RFC 3261 §21.5.4: shed early and cheaply), measured on its own: a flood of
 * new work (new-work-flood.mjs: the first request of a call, without credentials, never
 * retransmitted) at a rate the server challenges in full, then at one far past what it serves,
 * where the guard refuses most of it. The first gives the server's CPU per 407; the second's CPU,
 * less its 407s at that cost, divided by its 503s, gives the CPU per refusal: the kernel's receive
 * and send (on loopback the send also delivers the 503 into the client's socket) and our
 * JavaScript. With the sustained rate S and the CPU per relayed call c, that sets how much of k·S
 * one core can serve at best, refusing the rest: g·c + (k·S − g)·r ≤ 1 core.
 */
async function refusalBench() {
  console.log('\n# Refusing new work (RFC 3261 §21.5.4): server CPU per 503, from a flood of uncredentialed MESSAGEs');
  const target = await startParley('parley-refusal', USERS);
  const flood = async (rate, seconds) => {
    const before = await target.health();
    const cpu0 = cpuSeconds(target.pid);
    const f = run(...pinned(LOAD_CORE, process.execPath, [path.join(HERE, 'new-work-flood.mjs'), String(target.port), DOMAIN, String(rate), String(seconds)]));
    const { code, out } = await f.done;
    const cpu = cpuSeconds(target.pid) - cpu0;
    if (code !== 0) throw new Error(`new-work-flood failed:\n${out}`);
    const after = await target.health();
    const r = JSON.parse(out.trim().split('\n').pop());
    const dropped = after.overload.refused.dropped - before.overload.refused.dropped;
    return { ...r, rate, cpu, challenged: r.answers['407'] ?? 0, refused: r.answers['503'] ?? 0, dropped };
  };
  try {
    // a first flood warms the process (its code optimised, its tables grown), and is not counted
    await flood(5000, 2);
    const show = (f) => `${f.rate}/s for 4 s: ${f.challenged} challenged (407), ${f.refused} refused (503), ${f.dropped} dropped as stale, ${f.unanswered} unanswered, server ${(f.cpu / f.seconds).toFixed(2)} cores`;
    // three pairs, each read in one state of the machine (see machineState); the medians kept
    const pairs = [];
    for (let i = 0; i < 3; i++) {
      await settle(target);
      const machineUs = await machineState();
      // below capacity: every request is challenged (checked), none refused. 3,000/s: the flood never
      // answers its challenges, and the native socket then starts at most 256 new requests per
      // 56-64 ms (the challenges owed, udp_gate.c; about 6,000 a second were started in session
      // 30's floods); at 10,000/s, the default until session 30, 7,850/s were challenged and the
      // CPU per 407 read 129 µs
      const low = await flood(Number(opt('challenge-rate', '3000')), 4);
      await settle(target);
      const perChallengeUs = (1e6 * low.cpu) / low.challenged;
      // far past what the core challenges, so that most of the flood is refused, and not so far
      // that refusing it fills the core: twice the 407s one core could send at the cost just read
      // (45,000/s was about that where a 407 cost ~40 µs; where one cost 29 µs, 45,000/s was still
      // mostly challenged, and three times, 101,000/s, filled the core and lost 170,000 in the
      // buffer while the CPU per 503 read 17 µs instead of 9, 2026-12-02)
      const rate = Number(opt('refusal-rate', String(refusalRate(perChallengeUs))));
      const high = await flood(rate, 4);
      const pure = low.refused === 0 && low.unanswered === 0 && low.dropped === 0 && high.refused > high.challenged;
      // a request dropped as stale was read too: its cost is counted with the refusals'
      let perRefusalUs = pure ? (1e6 * high.cpu - high.challenged * perChallengeUs) / (high.refused + high.dropped) : NaN;
      // A 407 under the flood may cost less than in the first flood: on the native socket a read hands
      // JavaScript 64 datagrams at once under a backlog and one or two without, so the reckoning
      // above can go below zero (session 26: -0.9 and -1.9 µs), and the guard, refusing cheaply,
      // admits so much that the flood is mostly challenged. Then a second flood, 1.3 times the
      // first, as saturated, gives two equations in the two costs under a flood.
      let higher = null;
      const lowPure = low.refused === 0 && low.unanswered === 0 && low.dropped === 0;
      if (lowPure && !(perRefusalUs > 0)) {
        await settle(target);
        higher = await flood(Math.round(1.3 * rate), 4);
        const [c1, r1, c2, r2] = [high.challenged, high.refused + high.dropped, higher.challenged, higher.refused + higher.dropped];
        const det = r2 * c1 - r1 * c2;
        perRefusalUs = Math.abs(det) > 0.1 * r2 * c1 ? (1e6 * (higher.cpu * c1 - high.cpu * c2)) / det : NaN;
        if (!(perRefusalUs > 0)) perRefusalUs = NaN;
      }
      console.log(`  ${show(low)}\n  ${show(high)}${higher === null ? '' : `\n  ${show(higher)}`}`);
      const solved = higher === null ? '' : `, from the two floods (the 407 of the first flood cost more than under a flood)`;
      console.log(`    ${machineFigure(machineUs)}: CPU per 407 ${perChallengeUs.toFixed(1)} µs, per 503 ${Number.isFinite(perRefusalUs) ? `${perRefusalUs.toFixed(1)} µs${solved}` : "not read (the first flood was not all challenged, or the second not mostly refused, or the two floods' shares too alike)"}`);
      pairs.push({ machineUs, low, high, higher, perChallengeUs, perRefusalUs });
    }
    const nativeUs = await nativeRefusal();
    const read = pairs.filter((p) => Number.isFinite(p.perRefusalUs));
    const perChallengeUs = medianBy(pairs.map((p) => p.perChallengeUs));
    const perRefusalUs = read.length > 0 ? medianBy(read.map((p) => p.perRefusalUs)) : NaN;
    console.log(`  server CPU per 407 challenge ${perChallengeUs.toFixed(1)} µs, per 503 refusal ${perRefusalUs.toFixed(1)} µs (medians of ${pairs.length} and ${read.length})`);
    if (nativeUs !== null) {
      console.log(`  the native socket alone: ${nativeUs.toFixed(1)} µs per 503 (median of 3; the bound below uses it, the floods' split being unstable on this socket)`);
      return { pairs, perChallengeUs, perRefusalUs: nativeUs, perRefusalInFloodsUs: perRefusalUs };
    }
    return { pairs, perChallengeUs, perRefusalUs };
  } finally {
    await target.stop();
  }
}

/**
 * CPU per 503 of the native UDP socket alone (test/bench/native-refusal.mjs), flooded as the
 * appliance is: the median of three 4 s floods at 60,000/s; null where the socket was not built.
 */
async function nativeRefusal() {
  if (!existsSync(path.join(ROOT, 'appliance/dist/native/udp_gate.node')) || process.env.PARLEY_UDP_ENGINE === 'node') return null;
  const readings = [];
  for (let i = 0; i < 3; i++) {
    const g = run(...pinned(SERVER_CORE, process.execPath, [path.join(HERE, 'native-refusal.mjs')]));
    let port = NaN;
    for (let t = 0; t < 100 && !Number.isFinite(port); t++) {
      await sleep(50);
      port = Number.parseInt(g.output().split('\n')[0], 10);
    }
    const f = run(...pinned(LOAD_CORE, process.execPath, [path.join(HERE, 'new-work-flood.mjs'), String(port), DOMAIN, '60000', '4']));
    const flooded = await f.done;
    g.child.kill('SIGUSR2');
    const { out } = await g.done;
    const r = JSON.parse(out.trim().split('\n').pop());
    if (flooded.code !== 0 || r.refused === 0) throw new Error(`native-refusal failed:\n${flooded.out}\n${out}`);
    readings.push(r.cpuUs / r.refused);
    console.log(`  the native socket alone, 60000/s for 4 s: ${r.refused} refused (503), ${(r.cpuUs / r.refused).toFixed(2)} µs each`);
  }
  return medianBy(readings);
}

/** The refusal flood's rate: twice what one core challenges at `perChallengeUs` each, rounded up to a thousand, at least 45,000/s. */
function refusalRate(perChallengeUs) {
  const challengeable = Number.isFinite(perChallengeUs) && perChallengeUs > 0 ? 1e6 / perChallengeUs : 22_500;
  return Math.max(45_000, Math.ceil((2 * challengeable) / 1000) * 1000);
}

/**
 * The most of k times the sustained rate one core can serve while refusing the rest, with the
 * refusal's cost measured by refusalBench and a call's at the sustained rate: g·c + (k·S − g)·r = 1
 * core (perfect control, nothing lost to transients). A bound, not a forecast.
 */
function overloadCeiling(sustained, perCallUs, perRefusalUs, k) {
  const g = (1e6 - k * sustained * perRefusalUs) / (perCallUs - perRefusalUs);
  return Math.max(0, Math.min(k * sustained, g));
}

async function deferredBench() {
  console.log(`\n# Deferred messaging (P2): stored while the recipient is offline, then delivered on REGISTER`);
  // BENCH_SERVER_LOG: at info, so that the log says each failed push and its retry
  const logLevel = process.env.BENCH_SERVER_LOG ? { PARLEY_LOG_LEVEL: 'info' } : {};
  const target = await startParley('parley-deferred', USERS, 'deferred:\n  maxPerUser: 10000000\n  maxPerSender: 10000000\n', [], logLevel);
  try {
    const best = await sustained(target, path.join(HERE, 'bench-message.xml'), 'offline', 'Parley store (202)');
    // then up to --stored messages waiting (35,000 by default), at a rate the store keeps up with
    const want = Number(opt('stored', '35000'));
    const have = (await target.health()).storedMessages;
    if (have < want) {
      // --top-up-rate R: a fixed rate instead (builds compared back to back on a busy machine, where
      // the store's sustained step may fail and the 200/s fallback would take minutes)
      const rate = Number(opt('top-up-rate', '0')) || Math.max(200, Math.round(0.5 * (best?.achieved ?? 400)));
      const topUp = await sipp(target, path.join(HERE, 'bench-message.xml'), ['-p', String(port()), '-s', 'uac', '-au', 'uac', '-ap', 'uacpw', '-auth_uri', `offline@${DOMAIN}`, '-r', String(rate), '-m', String(want - have), '-l', String(rate * 4)], {
        domain: DOMAIN,
        to: 'offline',
        body: 'benchmark message',
      }).done;
      if (topUp.code !== 0) console.log(`  (topping up to ${want} stored: SIPp exited with ${topUp.code})`);
    }
    const stored = (await target.health()).storedMessages;
    let cpu = NaN;
    let from = NaN;
    const delivered = await withDevice(async (devicePort, device) => {
      const t0 = Date.now();
      // the appliance's CPU over the push phase (user+system from /proc): comparable between
      // builds on a shared machine, where the wall time also measures the neighbours
      const c0 = cpuSeconds(target.pid);
      from = (t0 - target.startedAt) / 1000;
      await registerDevice(target, 'offline', 'offlinepw', devicePort);
      // a delivery that stalls says what it is waiting on while it waits, and when it gives up
      const state = (h) =>
        `${h.storedMessages} left, ${h.registrations} registered, transactions ${JSON.stringify(h.transactions)}, loop lag ${h.overload?.loopLagMs} ms; ` +
        `the device ${device.ended() === null ? 'runs' : `ended (${device.ended()})`}`;
      let said = t0;
      for (;;) {
        const h = await target.health();
        if (h.storedMessages === 0) break;
        if (Date.now() - t0 > 600_000) throw new Error(`delivery did not finish in 10 minutes: ${state(h)}\nthe device's last output:\n${device.output().slice(-3000)}`);
        if (Date.now() - said >= 30_000) {
          said = Date.now();
          console.log(`  (delivering, ${((said - t0) / 1000).toFixed(0)} s: ${state(h)})`);
        }
        await sleep(100);
      }
      cpu = cpuSeconds(target.pid) - c0;
      return (Date.now() - t0) / 1000;
    });
    const cpuPerK = cpu / (stored / 1000);
    console.log(`  delivered ${stored} stored messages in ${delivered.toFixed(1)} s after REGISTER (${(stored / delivered).toFixed(0)} msg/s), server CPU ${cpuPerK.toFixed(3)} s per 1,000 pushed`);
    console.log(`  (push phase: ${from.toFixed(1)}–${(from + delivered).toFixed(1)} s after the appliance started, for profsum.mjs)`);
    return { store: best, stored, deliverySeconds: delivered, cpuPerK };
  } finally {
    await target.stop();
  }
}

/**
 * Registers many users from one UDP socket with digest auth (MD5), `window` at a time.
 * SIPp 3.6 cannot take per-call credentials inside [authentication], so the memory
 * benchmark drives its REGISTERs itself; the server is what is measured, not the client.
 */
async function registerMany(target, users, window = 200) {
  // answers matched by branch: a late answer to a retransmitted first request must not be taken for the second's
  const client = await udpClient(target.port, { keyOf: branchOf });
  const register = (user, cseq, extra) =>
    request('REGISTER', `sip:${DOMAIN}`, [
      client.via(`z9hG4bK${user}-${cseq}`),
      `From: <sip:${user}@${DOMAIN}>;tag=${user}`,
      `To: <sip:${user}@${DOMAIN}>`,
      `Call-ID: reg-${user}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${user}@127.0.0.1:5999>`,
      'Expires: 3600',
      'Max-Forwards: 70',
      ...extra,
    ]);
  let ok = 0;
  const one = async ([user, password]) => {
    const challenge = await client.exchange(`z9hG4bK${user}-1`, register(user, 1, []));
    const authz = credentials({ user, password, realm: DOMAIN, method: 'REGISTER', uri: `sip:${DOMAIN}`, challenge });
    if ((await client.exchange(`z9hG4bK${user}-2`, register(user, 2, [authz]))).startsWith('SIP/2.0 200')) ok++;
  };
  let next = 0;
  await Promise.all(Array.from({ length: window }, async () => {
    while (next < users.length) await one(users[next++]).catch(() => undefined);
  }));
  client.close();
  return ok;
}

async function memoryBench() {
  console.log(`\n# Memory per registered contact (${CONTACTS} users, one contact each)`);
  const users = Array.from({ length: CONTACTS }, (_, i) => [`m${i}`, `mpw${i}`]);
  // --expose-gc: /health?gc=1 collects first, so the heap figures are live objects, not garbage
  const target = await startParley('parley-memory', users, '', ['--expose-gc']);
  try {
    await sleep(2000);
    const before = rssKb(target.pid);
    const heapBefore = (await target.health(true)).memory.heapUsedMiB;
    const t0 = Date.now();
    const ok = await registerMany(target, users);
    const secs = (Date.now() - t0) / 1000;
    // what a REGISTER leaves only for a while goes first: its Timer J entry (64 x T1 = 32 s)
    await sleep(35_000);
    const h = await target.health(true);
    const after = rssKb(target.pid);
    const perBinding = ((h.memory.heapUsedMiB - heapBefore) * 2 ** 20) / Math.max(1, h.registrations);
    console.log(`  ${h.registrations} contacts registered (${ok} answered 200) in ${secs.toFixed(1)} s (${(ok / secs).toFixed(0)} REGISTER/s with auth)`);
    console.log(
      `  after a full GC: V8 heap ${heapBefore} MiB -> ${h.memory.heapUsedMiB} MiB, ${(perBinding / 1024).toFixed(2)} kB per binding ` +
        `(with the user's replay and login state); RSS ${(before / 1024).toFixed(1)} -> ${(after / 1024).toFixed(1)} MiB`,
    );
    return { contacts: h.registrations, registerPerSecond: ok / secs, rssBeforeMiB: before / 1024, rssAfterMiB: after / 1024, heapBeforeMiB: heapBefore, heapAfterMiB: h.memory.heapUsedMiB, heapPerBindingKiB: perBinding / 1024 };
  } finally {
    await target.stop();
  }
}

/** Runs `fn` from `concurrency` loops for `seconds`; returns requests/s and latency percentiles. */
async function load(concurrency, seconds, fn) {
  const lat = [];
  const end = Date.now() + seconds * 1000;
  let failed = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const t0 = process.hrtime.bigint();
        const ok = await fn().catch(() => false);
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (!ok) failed++;
      }
    }),
  );
  lat.sort((a, b) => a - b);
  return { perSecond: lat.length / seconds, p50: percentile(lat, 50), p99: percentile(lat, 99), failed, total: lat.length };
}

const PROBE_USERS = 100;

/** The SIP probe (sip-probe.mjs) on the load core: REGISTER round trips at `rate` registrations/s for `seconds`. */
async function sipProbe(target, rate, seconds) {
  const probe = run(...pinned(LOAD_CORE, process.execPath, [path.join(HERE, 'sip-probe.mjs'), String(target.port), DOMAIN, 'probe', 'probe-password', String(PROBE_USERS), String(rate), String(seconds)]));
  const { code, out } = await probe.done;
  const line = out.trim().split('\n').pop();
  if (code !== 0) throw new Error(`sip-probe failed:\n${out}`);
  return JSON.parse(line);
}

async function xcapBench() {
  console.log('\n# XCAP (X1): one user, digest auth on every request, keep-alive HTTP/1.1');
  const target = await startParley('parley-xcap', [['x', 'x-password'], ...Array.from({ length: PROBE_USERS }, (_, i) => [`probe${i}`, 'probe-password'])]);
  try {
    const root = `http://127.0.0.1:${target.httpPort}/xcap-root`;
    const doc = 'resource-lists/users/sip:x@bench.test/index';
    // one challenge, then the nonce is reused with an increasing nonce-count, as HTTP clients do
    // (RFC 7616 §3.3); a request the server calls stale (a count overtaken by a concurrent one, or
    // an expired nonce) takes the fresh nonce it was given and is sent again, once
    const c = await fetch(`${root}/${doc}`);
    let nonce = /nonce="([^"]+)"/.exec(c.headers.get('www-authenticate'))[1];
    await c.arrayBuffer();
    const ha1 = md5(`x:${DOMAIN}:x-password`);
    let nc = 0;
    let retried = 0;
    const authz = (method, uri) => {
      const count = (++nc).toString(16).padStart(8, '0');
      const cnonce = nc.toString(36);
      const response = md5(`${ha1}:${nonce}:${count}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
      return `Digest username="x", realm="${DOMAIN}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=${count}, cnonce="${cnonce}"`;
    };
    const call = async (method, path, body, type) => {
      const uri = `/xcap-root/${path}`;
      const send = () => fetch(`http://127.0.0.1:${target.httpPort}${uri}`, { method, body, headers: { Authorization: authz(method, uri), ...(type ? { 'Content-Type': type } : {}) } });
      let res = await send();
      if (res.status === 401) {
        const fresh = /nonce="([^"]+)"/.exec(res.headers.get('www-authenticate') ?? '');
        await res.arrayBuffer();
        if (fresh) {
          nonce = fresh[1];
          nc = 0;
        }
        retried++;
        res = await send();
      }
      await res.arrayBuffer();
      return res.ok;
    };
    const entries = Array.from({ length: 200 }, (_, i) => `<entry uri="sip:user${i}@bench.test"><display-name>User ${i}</display-name></entry>`).join('');
    const ok = await call('PUT', doc, `<?xml version="1.0" encoding="UTF-8"?><resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list name="all">${entries}</list></resource-lists>`, 'application/resource-lists+xml');
    if (!ok) throw new Error('could not create the benchmark document');
    const element = `${doc}/~~/resource-lists/list%5B@name=%22all%22%5D/entry%5B@uri=%22sip:user100@bench.test%22%5D`;
    const out = {};
    // server CPU per request for the GETs too: an element GET is the HTTP, digest and selection
    // part of a PUT, so PUT minus GET is what the write path costs
    const measured = async (fn) => {
      const c0 = cpuSeconds(target.pid);
      const r = await fn();
      r.serverCpuMs = ((cpuSeconds(target.pid) - c0) * 1000) / r.total;
      return r;
    };
    out.getDocument = await measured(() => load(8, STEP_SECONDS, () => call('GET', doc)));
    out.getElement = await measured(() => load(8, STEP_SECONDS, () => call('GET', element)));
    let v = 0;
    const put = () => call('PUT', element, `<entry uri="sip:user100@bench.test"><display-name>User 100 v${v++}</display-name></entry>`, 'application/xcap-el+xml');
    // uncounted: the first few hundred validations run in V8's baseline WebAssembly tier, the edit path cold
    await load(4, Math.min(3, STEP_SECONDS), put);
    const cpu0 = cpuSeconds(target.pid);
    out.putElement = await load(4, STEP_SECONDS, put);
    out.putElement.serverCpuMs = ((cpuSeconds(target.pid) - cpu0) * 1000) / out.putElement.total;
    for (const [name, r] of Object.entries(out)) {
      const cpu = r.serverCpuMs !== undefined ? `, server CPU ${r.serverCpuMs.toFixed(2)} ms per ${name === 'putElement' ? 'PUT' : 'GET'}` : '';
      console.log(`  ${name.padEnd(12)} ${r.perSecond.toFixed(0).padStart(6)}/s  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  (${r.failed} of ${r.total} failed)${cpu}`);
    }
    // SIP latency while XCAP is busy: validation runs in a worker thread, so the SIP event loop should not see it
    const rate = 100;
    out.sipAlone = await sipProbe(target, rate, STEP_SECONDS);
    const [withPuts, loadDuring] = await Promise.all([sipProbe(target, rate, STEP_SECONDS), load(4, STEP_SECONDS + 0.5, put)]);
    out.sipWithPuts = { ...withPuts, putPerSecond: loadDuring.perSecond };
    for (const [name, r] of [['alone', out.sipAlone], [`with ${loadDuring.perSecond.toFixed(0)} PUT/s`, out.sipWithPuts]]) {
      for (const [kind, k] of [['REGISTER -> 401', r.challenge], ['REGISTER -> 200', r.register]]) {
        console.log(`  SIP ${kind} ${name.padEnd(16)} p50 ${k.p50.toFixed(2)} ms  p99 ${k.p99.toFixed(2)} ms  max ${k.max.toFixed(1)} ms  (${k.answered} of ${k.sent} answered)`);
      }
    }
    console.log(`  (SIP: ${rate} registrations/s from ${PROBE_USERS} users; 401 is the stack alone, 200 also commits the binding to the store)`);
    console.log(`  (${retried} requests were sent again with a fresh nonce after a stale one)`);
    return out;
  } finally {
    await target.stop();
  }
}

/**
 * One-to-one MSRP sessions (test/bench/msrp-one-to-one.ts, TypeScript run through tsx because it
 * drives the project's own MSRP stack as the clients): messages/s through the switch with
 * latency, and heap per live session.
 */
async function msrpBench() {
  console.log('\n# MSRP one-to-one (switch)');
  const r = run(process.execPath, ['--import', 'tsx', path.join(HERE, 'msrp-one-to-one.ts')], { cwd: ROOT, env: { ...process.env, ...(PIN ? {} : { BENCH_NO_PIN: '1' }) } });
  const { code, out } = await r.done;
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || line === undefined) {
    console.log(`  failed (exit ${code}):\n${out}`);
    return null;
  }
  for (const l of out.split('\n')) if (l.startsWith('one-to-one') || l.startsWith('memory:')) console.log(`  ${l}`);
  return JSON.parse(line.slice(7));
}

/**
 * A chat room (test/bench/msrp-room.ts through tsx, the project's MSRP stack as the clients):
 * 100 participants, 10 senders of 1 KiB messages; deliveries/s across all legs, latency to the
 * last receiver, heap per participant.
 */
async function roomBench() {
  console.log('\n# MSRP room (focus switch)');
  const r = run(process.execPath, ['--import', 'tsx', path.join(HERE, 'msrp-room.ts')], { cwd: ROOT, env: { ...process.env, ...(PIN ? {} : { BENCH_NO_PIN: '1' }), ...(opt('profile', null) ? { BENCH_PROFILE: path.resolve(opt('profile', null), 'room.cpuprofile') } : {}) } });
  const { code, out } = await r.done;
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || line === undefined) {
    console.log(`  failed (exit ${code}):\n${out}`);
    return null;
  }
  for (const l of out.split('\n')) if (/^(room of|cpu:|paced|memory:)/.test(l)) console.log(`  ${l}`);
  return JSON.parse(line.slice(7));
}

/**
 * Storage quotas (test/bench/quota-usage.ts through tsx, in-process against a real SQLite store):
 * usage of a user with 100,000 stored messages, read from the ledger and recounted from the data.
 */
async function quotaBench() {
  console.log('\n# storage quota: usage of a user with 100,000 stored messages');
  const r = run(process.execPath, ['--import', 'tsx', path.join(HERE, 'quota-usage.ts')], { cwd: ROOT });
  const { code, out } = await r.done;
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || line === undefined) {
    console.log(`  failed (exit ${code}):\n${out}`);
    return null;
  }
  for (const l of out.split('\n')) if (/^(filled|user with| {2})/.test(l)) console.log(`  ${l.trim()}`);
  return JSON.parse(line.slice(7));
}

/**
 * Stored conversations (test/bench/conversations.ts through tsx, in-process against a temporary data
 * folder): messages/s stored, search latency over `--conversation-messages N` (1,000,000) messages,
 * and the time to export a 10,000-message conversation in each format.
 */
async function conversationsBench() {
  console.log('\n# Stored conversations (store, search, export)');
  const env = { ...process.env, BENCH_CONVERSATION_MESSAGES: opt('conversation-messages', '1000000') };
  const r = run(process.execPath, ['--import', 'tsx', path.join(HERE, 'conversations.ts')], { cwd: ROOT, env });
  const { code, out } = await r.done;
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  if (code !== 0 || line === undefined) {
    console.log(`  failed (exit ${code}):\n${out}`);
    return null;
  }
  for (const l of out.split('\n')) if (/^(store|seed|search|export):/.test(l)) console.log(`  ${l}`);
  return JSON.parse(line.slice(7));
}

const cpu = os.cpus();
console.log(`Parley benchmark — ${new Date().toISOString()}`);
console.log(`machine: ${cpu.length} x ${cpu[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${spawnSync('sipp', ['-v']).stdout.toString().match(/SIPp v[^\s-]+/)?.[0] ?? 'SIPp'} (sipp -v exits 99)`);
const results = {};
if (ONLY.has('relay')) results.relay = await relayBench();
if (ONLY.has('refusal')) results.refusal = await refusalBench();
if (ONLY.has('deferred')) results.deferred = await deferredBench();
if (ONLY.has('memory')) results.memory = await memoryBench();
if (ONLY.has('xcap')) results.xcap = await xcapBench();
if (ONLY.has('presence')) {
  const { presenceBench } = await import('./presence-bench.mjs');
  results.presence = await presenceBench({ startParley, md5, DOMAIN, sleep, run, pinned, SERVER_CORE, KAMAILIO_ALLOCATOR, port, WORK, counts: opt('watchers', '1000,5000').split(',').map(Number), cpuSeconds, sides: { parley: ONLY.has('parley') || !ONLY.has('kamailio'), kamailio: ONLY.has('kamailio') || !ONLY.has('parley') } });
}
if (ONLY.has('msrp')) results.msrp = await msrpBench();
if (ONLY.has('room')) results.room = await roomBench();
if (ONLY.has('quota')) results.quota = await quotaBench();
if (ONLY.has('conversations')) results.conversations = await conversationsBench();

console.log('\n# Summary');
console.log(
  `  machine: fast state ${Number.isFinite(machine.fastUs) ? machine.fastUs.toFixed(1) : '?'} µs per loopback datagram (10th percentile of ${machine.probes.length} probes); ${machine.repeats} failed search step(s) run again, ${(machine.waitedMs / 1000).toFixed(0)} s spent waiting for the fast state in all (at most ${machine.budgetMs / 1000} s per server)`,
);
if (results.relay) {
  for (const [name, s] of Object.entries(results.relay)) {
    if (s === null) {
      console.log(`  ${name.padEnd(24)} did not sustain the lowest rate`);
      continue;
    }
    if (Array.isArray(s)) continue; // --overload-at: printed per step above
    const perK = s.cpu / (s.ok / 1000);
    const bound = s.generatorBoundAbove;
    const limit = bound
      ? ` (load generator bound: at ${bound.rate}/s offered it failed with the server ${bound.serverCores.toFixed(2)} cores busy)`
      : s.topStepPassed
        ? ` (the bench's top step: the server's limit was not reached, at ${(s.cpu / s.wall).toFixed(2)} cores)`
        : '';
    console.log(`  ${name.padEnd(24)} ${s.achieved.toFixed(0)} MESSAGE/s sustained (p50 ${s.p50} ms, p99 ${s.p99} ms), server CPU ${perK.toFixed(2)} s per 1,000 relayed${limit}`);
    console.log(`  ${''.padEnd(24)} (the sustained step ran with the ${machineFigure(s.machineUs)})`);
    for (const o of s.overload ?? []) {
      const each = o.runs?.length > 1 ? ` (median of ${o.runs.length}: ${o.runs.map((r) => `${(100 * r.ofSustained).toFixed(0)}% / ${percent(r.ofReference)} at ${r.machineUs.toFixed(1)} µs${r.generatorBound ? ', load generator bound' : r.generatorSaturated ? ', load generator saturated' : ''}`).join(', ')})` : '';
      const carried = o.carried
        ? `; of the ${o.carried.count} step(s) the load generator carried (not bound): median ${o.carried.goodput.toFixed(0)}/s = ${(100 * o.carried.ofSustained).toFixed(0)}% of sustained, ${percent(o.carried.ofReference)} of 1× just before, p99 ${o.carried.p99} ms`
        : '';
      console.log(
        `  ${''.padEnd(24)} at ${o.factor}x, ${CLIENT_LABEL[o.refusedCallEnds]}: goodput ${o.goodput.toFixed(0)}/s = ${(100 * o.ofSustained).toFixed(0)}% of sustained, ` +
          `${percent(o.ofReference)} of 1× just before, p99 ${o.p99} ms${o.generatorBound ? ' (load generator bound)' : ''}${each}${carried}`,
      );
    }
  }
  const p = results.relay['Parley']?.achieved;
  const k = results.relay['Kamailio 5.6 (auth)']?.achieved;
  if (p && k) {
    const kResult = results.relay['Kamailio 5.6 (auth)'];
    const kBound = kResult.generatorBoundAbove !== undefined || kResult.topStepPassed === true;
    // a Kamailio held back by SIPp makes the ratio an upper bound of Parley's share, not a measure of it
    console.log(`  Parley / Kamailio (both with digest auth on every MESSAGE): ${(p / k).toFixed(2)}${kBound ? " (at most: Kamailio's figure is not its limit)" : ''}`);
    // the two searches ran minutes apart, and the machine's per-datagram cost moves by half between
    // its states (machineState): a ratio of rates found in states far apart compares the states too
    const [pUs, kUs] = [results.relay['Parley'].machineUs, kResult.machineUs];
    if (pUs > 0 && kUs > 0) {
      const apart = Math.max(pUs, kUs) / Math.min(pUs, kUs) > 1.15;
      console.log(`  ${''.padEnd(24)} (their sustained steps ran with the machine at ${pUs.toFixed(1)} and ${kUs.toFixed(1)} µs per loopback datagram${apart ? ': more than 15% apart, so the ratio also compares the machine\'s states' : ''})`);
    }
  }
}
if (results.refusal) {
  const r = results.refusal;
  const parley = Array.isArray(results.relay?.Parley) ? null : results.relay?.Parley;
  // with a sustained rate from the same run: the most of 2× and 3× one core could serve, refusing the rest
  const ceiling = parley
    ? `; at the sustained ${parley.achieved.toFixed(0)}/s (${((1e6 * parley.cpu) / parley.ok).toFixed(0)} µs per call) one core serves at most ` +
      [2, 3].map((k) => `${((100 * overloadCeiling(parley.achieved, (1e6 * parley.cpu) / parley.ok, r.perRefusalUs, k)) / parley.achieved).toFixed(0)}% of it at ${k}×`).join(', ') +
      ' (perfect control)'
    : '';
  console.log(`  refusing: ${r.perRefusalUs.toFixed(1)} µs of server CPU per 503, ${r.perChallengeUs.toFixed(1)} µs per 407${ceiling}`);
  // What a completed call cost in the median 2× and 3× steps once their refusals are taken out,
  // beside the same figure for the 1× reference step run just before each (same machine state):
  // a call dearer under the flood than at 1× is lost whatever the guard admits. An upper bound
  // of the call's own cost: each offered call not completed counts as one refusal, and the
  // retransmissions the step read, and calls finished after its window, stay in it.
  const netUs = (cores, offered, done) => (1e6 * cores - Math.max(0, offered - done) * r.perRefusalUs) / done;
  const im = (parley?.overload ?? []).filter((o) => o.refusedCallEnds === 'im' && o.goodput > 0 && o.referenceGoodput > 0 && !o.generatorBound);
  if (im.length > 0 && Number.isFinite(r.perRefusalUs)) {
    const each = im.map(
      (o) =>
        `${netUs(o.serverCores, o.offered, o.goodput).toFixed(0)} µs at ${o.factor}× (${o.retransmissions ?? 0} UAC retransmissions; ${netUs(o.referenceCores, parley.rate, o.referenceGoodput).toFixed(0)} µs in its 1× reference, ${machineFigure(o.referenceMachineUs)})`,
    );
    console.log(`  a completed IM call's server CPU, refusals taken out (at most): ${each.join('; ')}`);
  }
}
if (results.deferred?.store) {
  console.log(`  deferred store: ${results.deferred.store.achieved.toFixed(0)} MESSAGE/s accepted (202, committed); ${results.deferred.stored} delivered in ${results.deferred.deliverySeconds.toFixed(1)} s after REGISTER, ${results.deferred.cpuPerK.toFixed(3)} s CPU per 1,000`);
}
if (results.quota) {
  const q = results.quota;
  console.log(`  storage quota: ${q.messages} stored messages: ledger read ${q.ledgerReadNs.toFixed(0)} ns (quota document ${q.documentUs.toFixed(1)} µs), recount ${q.recountUserMs.toFixed(0)} ms`);
}
if (results.memory) {
  const m = results.memory;
  console.log(`  memory: ${m.contacts} contacts: ${m.heapPerBindingKiB.toFixed(2)} kB of V8 heap per binding after GC (RSS +${(m.rssAfterMiB - m.rssBeforeMiB).toFixed(1)} MiB); ${m.registerPerSecond.toFixed(0)} REGISTER/s`);
}
if (results.xcap) {
  const x = results.xcap;
  console.log(`  xcap: GET 200-entry document ${x.getDocument.perSecond.toFixed(0)}/s, GET one element ${x.getElement.perSecond.toFixed(0)}/s, PUT one element (validated) ${x.putElement.perSecond.toFixed(0)}/s (p50 ${x.putElement.p50.toFixed(1)} ms, p99 ${x.putElement.p99.toFixed(1)} ms, ${x.putElement.serverCpuMs.toFixed(2)} ms server CPU each)`);
  console.log(
    `  SIP p99 alone / with ${x.sipWithPuts.putPerSecond.toFixed(0)} XCAP PUT/s: REGISTER->401 ${x.sipAlone.challenge.p99.toFixed(2)} / ${x.sipWithPuts.challenge.p99.toFixed(2)} ms, ` +
      `REGISTER->200 ${x.sipAlone.register.p99.toFixed(2)} / ${x.sipWithPuts.register.p99.toFixed(2)} ms`,
  );
}
if (results.presence) {
  for (const [n, r] of Object.entries(results.presence)) {
    console.log(`  presence, ${n}: one PUBLISH, last NOTIFY after ${r.fanOutMs.toFixed(0)} ms (server CPU ${r.cpuMs.toFixed(0)} ms), ${r.lost} of ${r.active} lost${r.perGiB ? `; ${r.perGiB.toLocaleString('en')} subscriptions per GiB of heap` : ''}`);
  }
}
if (results.msrp) {
  const m = results.msrp;
  console.log(`  msrp one-to-one: ${m.perSecond.toFixed(0)} messages/s through the switch (1 KiB, p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, ${m.serverCpuSecondsPer1000.toFixed(3)} s server CPU per 1,000); ${m.heapPerSessionKiB.toFixed(1)} KiB heap per live session`);
}
if (results.room) {
  const r = results.room;
  console.log(`  msrp room of ${r.participants}: ${r.deliveriesPerSecond.toFixed(0)} deliveries/s at saturation (${r.senders} senders, 1 KiB), ${r.serverCpuSecondsPer1000.toFixed(4)} s server CPU per 1,000; paced at ${r.pacedRate}/s to the last receiver p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms; ${r.heapPerParticipantKiB.toFixed(1)} KiB heap per participant`);
}
if (results.conversations) {
  const c = results.conversations;
  console.log(`  conversations: ${c.store.perSecond.toFixed(0)} messages/s stored (sealed, indexed); search over ${c.seed.messages} messages p50 ${c.search.p50.toFixed(1)} ms, p99 ${c.search.p99.toFixed(1)} ms; export of 10,000 messages: ${Object.entries(c.export).map(([f, e]) => `${f} ${e.seconds.toFixed(2)} s`).join(', ')}`);
}
console.log(`\nJSON ${JSON.stringify(results)}`);
