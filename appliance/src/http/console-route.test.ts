import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { bindHttp, serveHttp } from './http-app.js';
import { CONSOLE_CSP, consoleRoute } from './console-route.js';

let server: http.Server;
let base: string;
let port: number;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'parley-console-'));
  const built = path.join(dir, 'dist');
  mkdirSync(path.join(built, 'assets'), { recursive: true });
  writeFileSync(path.join(built, 'index.html'), '<!doctype html><title>console</title>');
  writeFileSync(path.join(built, 'assets/index-abc123.js'), 'console.log(1)');
  writeFileSync(path.join(built, 'favicon.svg'), '<svg/>');
  writeFileSync(path.join(dir, 'secret.txt'), 'outside the console folder');
  const bound = await bindHttp('127.0.0.1', 0);
  server = bound.server;
  port = bound.port;
  base = `http://127.0.0.1:${port}`;
  serveHttp(server, pino({ level: 'silent' }), [consoleRoute({ dir: built })]);
});
afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A request sent as written, so that `..` and odd encodings reach the server unnormalised (fetch
 * would resolve them), and without the `Cache-Control: no-cache` fetch adds to conditional requests.
 */
function raw(target: string, headers = ''): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    // written, not ended: the server answers a request whose client has half-closed with nothing
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`));
    let data = '';
    s.on('data', (c: Buffer) => (data += c.toString('latin1')));
    s.on('end', () => {
      const [head, body] = [data.slice(0, data.indexOf('\r\n\r\n')), data.slice(data.indexOf('\r\n\r\n') + 4)];
      resolve({ status: Number(head.split(' ')[1]), head, body });
    });
    s.on('error', reject);
  });
}

describe('the console at /console', () => {
  it('redirects /console to /console/ and serves index.html there, revalidated each time, with a CSP of self only', async () => {
    const redirect = await fetch(`${base}/console`, { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/console/');
    const res = await fetch(`${base}/console/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).not.toContain('unsafe');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toContain('<title>console</title>');
  });

  it('answers any page path with index.html (the console routes it), so a reload of a deep link works', async () => {
    const res = await fetch(`${base}/console/users/alice`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<title>console</title>');
  });

  it('serves hashed assets as immutable, with their type, and 304 on a matching ETag', async () => {
    const res = await fetch(`${base}/console/assets/index-abc123.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await res.text()).toBe('console.log(1)');
    const again = await raw('/console/assets/index-abc123.js', `If-None-Match: ${res.headers.get('etag')}\r\n`);
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    const svg = await fetch(`${base}/console/favicon.svg`);
    expect([svg.status, svg.headers.get('content-type'), svg.headers.get('cache-control')]).toEqual([200, 'image/svg+xml', 'no-cache']);
  });

  it('answers HEAD with the headers alone', async () => {
    const res = await fetch(`${base}/console/assets/index-abc123.js`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('14');
    expect(await res.text()).toBe('');
  });

  it('gives a missing asset 404, not the page', async () => {
    expect((await fetch(`${base}/console/assets/index-old999.js`)).status).toBe(404);
    expect((await fetch(`${base}/console/robots.txt`)).status).toBe(404);
  });

  it('never serves a file outside its folder, however the path is written', async () => {
    for (const target of ['/console/../secret.txt', '/console/%2e%2e/secret.txt', '/console/assets/%2e%2e/%2e%2e/secret.txt', '/console/..%2fsecret.txt', '/console/%2e%2e%5csecret.txt', '/console/%ZZ']) {
      const res = await raw(target);
      expect(res.body, target).not.toContain('outside the console folder');
      expect([400, 404], target).toContain(res.status);
    }
  });

  it('refuses methods other than GET and HEAD with 405 and Allow', async () => {
    const res = await fetch(`${base}/console/`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('leaves other paths to the next route', async () => {
    expect((await fetch(`${base}/consoles`)).status).toBe(404);
    expect((await fetch(`${base}/health`)).status).toBe(404);
  });
});

describe('the console before it is built', () => {
  it('says how to build it', async () => {
    // a second app on the same folder layout, whose dist is missing
    const bound = await bindHttp('127.0.0.1', 0);
    serveHttp(bound.server, pino({ level: 'silent' }), [consoleRoute({ dir: path.join(dir, 'missing') })]);
    try {
      const res = await fetch(`http://127.0.0.1:${bound.port}/console/`);
      expect(res.status).toBe(404);
      expect(await res.text()).toBe('The console is not built: run npm run build');
    } finally {
      bound.server.close();
    }
  });
});
