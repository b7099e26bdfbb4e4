import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { Resolver } from 'node:dns/promises';
import sqlite3 from 'sqlite3';
import type { Config } from '../config/config.js';
import { prepareDataFolder, DataFolderError } from '../store/data-folder.js';
import { MIGRATIONS } from '../store/data-source.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of `parley self-test`: what was checked, how it went, and what to change. */
export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
}

const result = (name: string, status: CheckStatus, detail: string): CheckResult => ({ name, status, detail });
const UNSPECIFIED = new Set(['0.0.0.0', '::', '']);
/** where a local client reaches a listener bound to `bind` */
export const reachable = (bind: string): string => (UNSPECIFIED.has(bind) ? '127.0.0.1' : bind);

/** The data folder's permissions (the same refusal as start-up) and SQLite's integrity check. */
export async function checkStore(config: Config): Promise<CheckResult> {
  const name = 'store';
  if (!existsSync(config.dataDir)) return result(name, 'warn', `no data folder ${config.dataDir} yet: it is made when parley first starts`);
  try {
    prepareDataFolder(config.dataDir);
  } catch (err) {
    if (err instanceof DataFolderError) return result(name, 'fail', err.message);
    throw err;
  }
  const file = path.join(config.dataDir, 'parley.sqlite');
  if (!existsSync(file)) return result(name, 'warn', `no store in ${config.dataDir} yet: it is made when parley first starts`);
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const d = new sqlite3.Database(file, sqlite3.OPEN_READONLY, (err) => (err ? reject(err) : resolve(d)));
  });
  const all = <T>(sql: string): Promise<T[]> => new Promise((resolve, reject) => db.all(sql, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
  try {
    const integrity = await all<{ integrity_check: string }>('PRAGMA integrity_check');
    if (integrity[0]?.integrity_check !== 'ok') return result(name, 'fail', `${file} is damaged (${integrity.map((r) => r.integrity_check).join('; ')}): restore the last backup (parley restore)`);
    const applied = new Set((await all<{ name: string }>('SELECT name FROM migrations')).map((r) => r.name));
    const pending = MIGRATIONS.filter((m) => !applied.has(m.name)).length;
    const users = (await all<{ n: number }>('SELECT count(*) AS n FROM users'))[0].n;
    if (pending > 0) return result(name, 'warn', `${file} is intact; ${pending} schema migrations are applied when parley next starts`);
    return result(name, 'ok', `${file} is intact (integrity_check), schema up to date, ${users} users`);
  } catch (err) {
    return result(name, 'fail', `${file} cannot be read: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}

/** Whether something accepts TCP connections on host:port. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(2000, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.end(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Whether this user may bind the port: free, taken by another process, or privileged. */
function bindable(host: string, port: number): Promise<'free' | 'in-use' | 'privileged'> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EACCES' ? 'privileged' : 'in-use'));
    s.listen(port, host, () => s.close(() => resolve('free')));
  });
}

/** The TCP listeners of the config: listening (parley runs), free, or out of this user's reach. */
export async function checkPorts(config: Config): Promise<CheckResult> {
  const { sip, http, metrics } = config;
  const wanted: [string, string, number | 'auto'][] = [
    ['SIP TCP', sip.bind, sip.port],
    ['SIP TLS', sip.bind, sip.tlsPort],
    ['SIP WS', sip.bind, sip.wsPort],
    ['SIP WSS', sip.bind, sip.wssPort],
    ['HTTP', http.bind ?? sip.bind, http.port],
    ['metrics', metrics.bind, metrics.port],
  ];
  const up: string[] = [];
  const down: string[] = [];
  const problems: string[] = [];
  for (const [what, bind, port] of wanted) {
    if (port === 0 || port === 'auto') continue;
    if (await listening(reachable(bind), port)) {
      up.push(`${what} ${port}`);
      continue;
    }
    const state = await bindable(bind, port);
    if (state === 'free') down.push(`${what} ${port}`);
    else if (state === 'privileged') problems.push(`${what} ${port} needs CAP_NET_BIND_SERVICE (the systemd unit grants it) or a port above 1023`);
    else problems.push(`${what} ${port} on ${bind} is taken by another process but does not accept connections: free it or change the port`);
  }
  if (problems.length > 0) return result('ports', 'fail', problems.join('; '));
  if (down.length > 0 && up.length > 0) return result('ports', 'fail', `listening: ${up.join(', ')}; nothing on ${down.join(', ')}: is another parley running with a different config?`);
  if (down.length > 0) return result('ports', 'warn', `free, nothing listening: ${down.join(', ')} (parley is not running: systemctl start parley)`);
  return result('ports', 'ok', `listening: ${up.join(', ') || 'only auto ports configured'}`);
}

/** The certificate of the TLS and WSS listeners: validity, expiry, names, and its key. */
export function checkCertificate(config: Config, now = new Date()): CheckResult {
  const name = 'tls';
  const { tls, tlsPort, wssPort } = config.sip;
  if (tlsPort === 0 && wssPort === 0) return result(name, 'skip', 'no TLS or WSS listener configured');
  if (tls.cert === undefined || tls.key === undefined)
    return result(name, 'warn', `a self-signed certificate is generated in ${path.join(config.dataDir, 'tls')}: devices will not trust it; set sip.tls.cert and sip.tls.key to one issued for ${config.domain}`);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(tls.cert));
  } catch (err) {
    return result(name, 'fail', `sip.tls.cert ${tls.cert} is not a readable PEM certificate: ${(err as Error).message}`);
  }
  const problems: string[] = [];
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (now < from) problems.push(`not valid before ${from.toISOString()}`);
  if (now > to) problems.push(`expired on ${to.toISOString()}: renew it`);
  const names = [config.domain, ...(config.sip.advertisedHost ? [config.sip.advertisedHost] : [])];
  const named = names.filter((n) => (net.isIP(n) ? cert.checkIP(n) : cert.checkHost(n)) !== undefined);
  if (named.length === 0) problems.push(`it names neither ${names.join(' nor ')} (subject alt names: ${cert.subjectAltName ?? 'none'}): devices checking the name will refuse it`);
  try {
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(tls.key)))) problems.push(`sip.tls.key ${tls.key} is not the key of this certificate`);
  } catch (err) {
    problems.push(`sip.tls.key ${tls.key} cannot be read: ${(err as Error).message}`);
  }
  if (problems.length > 0) return result(name, 'fail', `${tls.cert}: ${problems.join('; ')}`);
  const days = Math.floor((to.getTime() - now.getTime()) / 86_400_000);
  if (days < 30) return result(name, 'warn', `${tls.cert} for ${named.join(', ')} expires in ${days} days (${to.toISOString()}): renew it`);
  return result(name, 'ok', `${tls.cert} for ${named.join(', ')}, valid until ${to.toISOString()} (${days} days), key matches`);
}

/** Names that no public DNS holds records for (RFC 2606, RFC 6761). */
const PRIVATE_NAME = /(^|\.)(localhost|test|example|invalid|local|localdomain)$/i;
const UNREACHABLE = new Set(['ECONNREFUSED', 'ETIMEOUT', 'ESERVFAIL', 'EREFUSED', 'ECONNRESET', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * The domain's SIP records (RFC 3263 §4.1 NAPTR, §4.2 SRV): reported, never changed. Where DNS
 * cannot be reached the check is skipped, not failed.
 */
export async function checkDns(config: Config, servers?: string[]): Promise<CheckResult> {
  const name = 'dns';
  const domain = config.domain;
  if (net.isIP(domain) !== 0 || PRIVATE_NAME.test(domain)) return result(name, 'skip', `${domain} is not a public DNS name`);
  const resolver = new Resolver({ timeout: 3000, tries: 1 });
  if (servers) resolver.setServers(servers);
  const wanted: [string, number | 'auto', string][] = [
    [`_sip._udp.${domain}`, config.sip.port, 'UDP'],
    [`_sip._tcp.${domain}`, config.sip.port, 'TCP'],
    [`_sips._tcp.${domain}`, config.sip.tlsPort, 'TLS'],
  ];
  const found: string[] = [];
  const missing: string[] = [];
  for (const [record, port, transport] of wanted) {
    if (port === 0) continue;
    try {
      const srv = await resolver.resolveSrv(record);
      const ports = srv.map((s) => s.port);
      if (port !== 'auto' && !ports.includes(port)) missing.push(`${record} points to port ${ports.join(', ')}, parley listens on ${port} (${transport})`);
      else found.push(`${record} -> ${srv.map((s) => `${s.name}:${s.port}`).join(', ')}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (UNREACHABLE.has(code)) return result(name, 'skip', `DNS cannot be reached from here (${code}): check the records from another machine`);
      missing.push(`no SRV ${record} (add "${record}. 3600 IN SRV 10 10 ${port === 'auto' ? 5060 : port} <this host>.")`);
    }
  }
  let naptr = '';
  try {
    const records = await resolver.resolveNaptr(domain);
    naptr = `; NAPTR: ${records.map((r) => r.service).join(', ')}`;
  } catch {
    naptr = '; no NAPTR (optional: clients then try SRV, RFC 3263 §4.1)';
  }
  if (missing.length > 0) return result(name, 'warn', `${missing.join('; ')}${naptr}`);
  return result(name, 'ok', `${found.join('; ')}${naptr}`);
}
