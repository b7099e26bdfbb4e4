import { Readable, Writable } from 'node:stream';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { bindHttp, serveHttp } from './http-app.js';
import { healthRoute } from './health-route.js';

const lines: string[] = [];
let server: http.Server;
let base: string;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const bound = await bindHttp('127.0.0.1', 0);
  server = bound.server;
  base = `http://127.0.0.1:${bound.port}`;
  const health = {
    ports: () => ({ HTTP: bound.port }),
    registrations: () => 0,
    storedMessages: () => 0,
    transactions: () => ({ server: 0, client: 0 }),
    subscriptions: () => 0,
    parsedCache: () => ({ entries: 0, bytes: 0, maxBytes: 1 }),
    overload: () => null,
  };
  serveHttp(server, pino({ level: 'debug' }, sink), [
    healthRoute('test', health),
    async (ctx, next) => {
      if (ctx.path === '/bug') throw new Error('secret detail: /etc/parley/key');
      if (ctx.path === '/teapot') ctx.throw(418, 'No coffee here');
      if (ctx.path === '/busy') ctx.throw(503, 'queue full at node 7', { headers: { 'Retry-After': '3' } });
      if (ctx.path === '/stream') {
        // a long body, written a chunk at a time, for a client that leaves half-way
        let sent = 0;
        ctx.type = 'text/plain';
        ctx.body = new Readable({
          read() {
            setTimeout(() => this.push(sent++ < 1000 ? 'x'.repeat(16_384) : null), 1);
          },
        });
        return;
      }
      await next();
    },
  ]);
});
afterAll(() => {
  server?.close();
});

describe('the HTTP app: one error middleware, one log sink', () => {
  it('answers an unexpected failure with a plain 500, logs it as JSON, and never prints to the console', async () => {
    const consoleError = vi.spyOn(console, 'error');
    const res = await fetch(`${base}/bug`);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toBe('Internal Server Error');
    const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string; url: string; err: { message: string } });
    expect(logged).toContainEqual(expect.objectContaining({ level: 50, msg: 'HTTP request failed', url: '/bug', err: expect.objectContaining({ message: 'secret detail: /etc/parley/key' }) }));
    expect(consoleError).not.toHaveBeenCalled();
    consoleError.mockRestore();
  });

  it('sends a 4xx with the text it was thrown with, and does not log it as an error', async () => {
    const before = lines.length;
    const res = await fetch(`${base}/teapot`);
    expect(res.status).toBe(418);
    expect(await res.text()).toBe('No coffee here');
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    expect(lines.slice(before)).toEqual([]);
  });

  it('keeps the headers of a thrown 5xx but not its details', async () => {
    const res = await fetch(`${base}/busy`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.text()).toBe('Service Unavailable');
  });

  it('serves /health', async () => {
    const body = (await (await fetch(`${base}/health`)).json()) as { status: string; xdms: unknown };
    expect(body.status).toBe('ok');
    expect(body.xdms).toEqual({ parsedCache: { entries: 0, bytes: 0, maxBytes: 1 } });
  });
});

describe('before the app is mounted', () => {
  it('answers 503 with Retry-After instead of leaving the request hanging', async () => {
    const early = await bindHttp('127.0.0.1', 0);
    try {
      const res = await fetch(`http://127.0.0.1:${early.port}/health`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      serveHttp(early.server, pino({ level: 'silent' }), [
        async (ctx) => {
          ctx.body = 'up';
        },
      ]);
      const after = await fetch(`http://127.0.0.1:${early.port}/health`);
      expect(after.status).toBe(200);
      expect(await after.text()).toBe('up');
    } finally {
      early.server.close();
    }
  });

  it('logs a client that leaves during its response as debug, not as a failure', async () => {
    const before = lines.length;
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${base}/stream`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
    });
    const logged = () => lines.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string });
    for (let i = 0; i < 100 && !logged().some((l) => l.msg.startsWith('HTTP client closed')); i++) await new Promise((r) => setTimeout(r, 20));
    expect(logged()).toContainEqual(expect.objectContaining({ level: 20, msg: 'HTTP client closed the connection before the response was finished' }));
    expect(logged().filter((l) => l.level >= 50)).toEqual([]);
  });
});
