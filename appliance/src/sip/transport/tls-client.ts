import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

/**
 * Where distributions keep the system's CA bundle, the first one present is read: Debian, Ubuntu
 * and Alpine; then Fedora/RHEL; then openSUSE. Node's own roots are Mozilla's bundle, which lacks
 * the CAs an administrator adds to the system store (`update-ca-certificates`).
 */
export const SYSTEM_CA_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem'];

/** The certificates the appliance trusts when it opens a TLS connection. */
export interface TrustAnchors {
  /** PEM certificates: Node's roots, the system bundle's and the configured file's */
  pems: string[];
  /** the system bundle read, or null when none was found */
  system: string | null;
  /** how many came from the configured CA file */
  extra: number;
}

/** How outbound TLS connections are checked (config `sip.tls.verifyPeer`, `sip.tls.ca`). */
export interface TlsClientOptions {
  /** verify the peer's certificate chain and its name; false only for self-signed devices */
  verifyPeer: boolean;
  /** the trust anchors, built once at start-up; unused when verifyPeer is false */
  secureContext?: tls.SecureContext;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Reads the trust anchors once, at start-up: Node's roots, the first system bundle found and
 * the optional `caFile` (extra CAs, such as the enterprise's own). A CA file that cannot be read,
 * holds no certificate or holds a broken one throws, naming the file and the certificate.
 *
 * @example
 * const anchors = loadTrustAnchors(config.sip.tls.ca);
 * const secureContext = tls.createSecureContext({ ca: anchors.pems });
 */
export function loadTrustAnchors(caFile: string | undefined, systemBundles: readonly string[] = SYSTEM_CA_BUNDLES): TrustAnchors {
  const pems = [...tls.rootCertificates];
  const system = systemBundles.find((f) => existsSync(f)) ?? null;
  if (system !== null) pems.push(...(readFileSync(system, 'utf8').match(PEM_BLOCK) ?? []));
  let extra = 0;
  if (caFile !== undefined) {
    const found = readFileSync(caFile, 'utf8').match(PEM_BLOCK) ?? [];
    if (found.length === 0) throw new Error(`${caFile}: no PEM certificate in it`);
    found.forEach((pem, i) => {
      try {
        new X509Certificate(pem);
      } catch (err) {
        throw new Error(`${caFile}: certificate ${i + 1} cannot be read: ${(err as Error).message}`);
      }
    });
    pems.push(...found);
    extra = found.length;
  }
  return { pems, system, extra };
}

/** A peer certificate that does not name the host we reached it by. */
export class PeerNameMismatch extends Error {
  readonly code = 'ERR_TLS_CERT_ALTNAME_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'PeerNameMismatch';
  }
}

/**
 * Whether the peer's certificate names `name`, for `tls.connect`'s `checkServerIdentity` (Node's
 * `tls.checkServerIdentity`). An IP literal must be an iPAddress subjectAltName (RFC 2818 §3.1);
 * a host name a dNSName, the subject's CN only when there is none (RFC 5922 §7).
 */
export function checkPeerName(name: string, cert: tls.PeerCertificate): Error | undefined {
  if (tls.checkServerIdentity(name, cert) === undefined) return undefined;
  const names = cert.subjectaltname ? `it names ${cert.subjectaltname}` : `it has no subjectAltName, subject CN ${String(cert.subject?.CN ?? 'none')}`;
  return new PeerNameMismatch(`certificate not valid for ${name} (${names})`);
}

/**
 * Options for `tls.connect` to `address:port`, checked as `name`: the trust anchors and the name
 * check when verifying, nothing when not. SNI carries a host name only: RFC 6066 §3 forbids
 * literal IP addresses in it.
 */
export function tlsConnectOptions(opts: TlsClientOptions, address: string, port: number, name: string): tls.ConnectionOptions {
  if (!opts.verifyPeer) return { host: address, port, rejectUnauthorized: false };
  return {
    host: address,
    port,
    servername: net.isIP(name) === 0 ? name : undefined,
    secureContext: opts.secureContext,
    rejectUnauthorized: true,
    checkServerIdentity: (_host, cert) => checkPeerName(name, cert),
  };
}

/** OpenSSL's X509 verification results as Node reports them (Node docs: "X509 certificate error codes"). */
const X509_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Why the peer's certificate was refused ("self-signed certificate", "certificate not valid for
 * 192.0.2.7 (…)"), or null when the connection failed for another reason (refused, reset, timeout).
 */
export function certificateFailure(err: Error): string | null {
  if (err instanceof PeerNameMismatch) return err.message;
  const code = (err as NodeJS.ErrnoException).code;
  return code !== undefined && X509_CODES.has(code) ? err.message : null;
}
