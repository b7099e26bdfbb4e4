import os from 'node:os';
import net from 'node:net';
import tls from 'node:tls';
import { type Config, ConfigError } from '../config/config.js';
import type { Logger } from '../log.js';
import { loadTrustAnchors, type TlsClientOptions } from '../sip/transport/tls-client.js';

/** Every address form of this host the appliance advertises or answers to, and how TLS we open is checked. */

const UNSPECIFIED = new Set(['0.0.0.0', '::', '']);

/** The host we write in Via and Contact: configured, the bind address, or this machine's first address. */
export function advertisedHostOf(config: Config): string {
  if (config.sip.advertisedHost) return config.sip.advertisedHost;
  if (!UNSPECIFIED.has(config.sip.bind)) return net.isIPv6(config.sip.bind) ? `[${config.sip.bind}]` : config.sip.bind;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** Every address of this machine, so that requests to sip:user@<our IP> are ours too. */
export function localAddresses(): string[] {
  const out = ['localhost'];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) out.push(a.family === 'IPv6' ? `[${a.address}]` : a.address);
  }
  return out;
}

/**
 * How the TLS connections we open are checked: the trust anchors are read once, here (README:
 * sip.tls.ca, sip.tls.verifyPeer). A CA file that cannot be used stops start-up.
 */
export function tlsClientOptions(config: Config, log: Logger): TlsClientOptions {
  const { ca, verifyPeer } = config.sip.tls;
  if (!verifyPeer) {
    log.warn('outbound TLS is not verified (sip.tls.verifyPeer: false): any certificate is accepted from devices the server connects to');
    return { verifyPeer: false };
  }
  let anchors;
  try {
    anchors = loadTrustAnchors(ca);
  } catch (err) {
    throw new ConfigError(`sip.tls.ca: ${(err as Error).message}`);
  }
  log.info({ systemStore: anchors.system, extraCas: anchors.extra, caFile: ca }, 'outbound TLS: peer certificates verified');
  return { verifyPeer: true, secureContext: tls.createSecureContext({ ca: anchors.pems }) };
}
