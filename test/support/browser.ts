import { buildSync } from 'esbuild';
import { createHash, X509Certificate } from 'node:crypto';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ROOT } from './appliance.js';

/**
 * Debian's Chromium, headless, with the flags this machine needs (no sandbox as root, no
 * background networking), plus any a test adds.
 */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', ...extraArgs],
  });
}

/**
 * The Chromium flag that trusts exactly one certificate: its SPKI's SHA-256, base64
 * (RFC 7469 §2.4 pin form), rather than ignoring every certificate error.
 */
export function trustCertificateFlag(certPem: string | Buffer): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `--ignore-certificate-errors-spki-list=${createHash('sha256').update(spki).digest('base64')}`;
}

let jssip: string | null = null;

/** JsSIP ships CommonJS only: bundle it once for the page. */
export function jssipBundle(): string {
  jssip ??= buildSync({
    entryPoints: [path.join(ROOT, 'node_modules/jssip/lib/JsSIP.js')],
    bundle: true,
    format: 'iife',
    globalName: 'JsSIP',
    write: false,
    platform: 'browser',
  }).outputFiles[0].text;
  return jssip;
}

let sipjs: string | null = null;

/** SIP.js ships ES modules: bundle them once for the page, as the global `SIP`. */
export function sipjsBundle(): string {
  sipjs ??= buildSync({
    entryPoints: [path.join(ROOT, 'node_modules/sip.js/lib/index.js')],
    bundle: true,
    format: 'iife',
    globalName: 'SIP',
    write: false,
    platform: 'browser',
  }).outputFiles[0].text;
  return sipjs;
}

/**
 * Serves a blank page on 127.0.0.1: Chromium's Local Network Access checks refuse
 * loopback WebSockets from about:blank, but not from a page on loopback itself.
 * With `tls`, the page is served over https with that certificate.
 */
export async function loopbackPage(tls?: { cert: Buffer; key: Buffer }): Promise<{ url: string; close(): void }> {
  const http = await import('node:http');
  const https = await import('node:https');
  const page = (_req: unknown, res: import('node:http').ServerResponse): void => {
    res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>parley test</title>');
  };
  const server = tls ? https.createServer(tls, page) : http.createServer(page);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return { url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}/`, close: () => server.close() };
}
