import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  /** where they came from, for the start-up log */
  source: string;
}

/**
 * The certificate and key for SIP over TLS: the configured pair, or a
 * self-signed one generated into the data folder on first start.
 */
export async function loadTlsCredentials(dataDir: string, domain: string, configured?: { cert: string; key: string }): Promise<TlsFiles> {
  if (configured) {
    return { cert: readFileSync(configured.cert), key: readFileSync(configured.key), source: configured.cert };
  }
  const dir = path.join(dataDir, 'tls');
  const certFile = path.join(dir, 'self-signed.crt');
  const keyFile = path.join(dir, 'self-signed.key');
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pems = await generate([{ name: 'commonName', value: domain }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: domain }, { type: 7, ip: '127.0.0.1' }] }],
    });
    writeFileSync(keyFile, pems.private, { mode: 0o600 });
    writeFileSync(certFile, pems.cert, { mode: 0o644 });
  }
  return { cert: readFileSync(certFile), key: readFileSync(keyFile), source: certFile };
}
