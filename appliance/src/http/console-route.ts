import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type Koa from 'koa';

/** Where the console lives on the HTTP port (README: Admin console). */
export const CONSOLE_PATH = '/console';

/**
 * What the console's pages may load: only this origin. Element Plus ships its styles as a
 * stylesheet (no `<style>` injected at run time) and ECharts draws on a canvas, so neither needs
 * 'unsafe-inline'; a page that breaks this logs a CSP violation, which fails the browser tests.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** Files under assets/ carry a content hash in their names (Vite), so they never change. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** index.html and the rest: always revalidated, so a new build is seen at once. */
const REVALIDATE = 'no-cache';

export interface ConsoleRouteOptions {
  /** the built renderer (console/dist); when it is missing, /console says how to build it */
  dir: string;
}

/**
 * Serves the built admin console under `/console`: its files with their types and cache
 * headers, `index.html` for any other path below it (the console's router decides what a path
 * means, so a reload of `/console/users/alice` works), and a CSP that allows only this origin.
 * GET and HEAD only. Paths outside the folder (`..`, encoded or not) never leave it.
 */
export function consoleRoute(opts: ConsoleRouteOptions): Koa.Middleware {
  const root = path.resolve(opts.dir);
  return async (ctx, next) => {
    if (ctx.path !== CONSOLE_PATH && !ctx.path.startsWith(`${CONSOLE_PATH}/`)) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') ctx.throw(405, 'Method Not Allowed', { headers: { Allow: 'GET, HEAD' } });
    setSecurityHeaders(ctx);
    // relative URLs in the pages resolve against the folder, so the bare path gets its slash
    if (ctx.path === CONSOLE_PATH) {
      ctx.status = 301;
      ctx.redirect(`${CONSOLE_PATH}/${ctx.querystring ? `?${ctx.querystring}` : ''}`);
      return;
    }
    const rel = decoded(ctx.path.slice(CONSOLE_PATH.length + 1));
    if (rel === null) return ctx.throw(400, 'Malformed percent-encoding in the path');
    // a NUL or a backslash has no business in a file name here
    if (rel.includes('\0') || rel.includes('\\')) ctx.throw(400, 'Bad path');
    const file = path.resolve(root, rel);
    if (file !== root && !file.startsWith(root + path.sep)) ctx.throw(404, 'Not Found');
    const found = rel === '' ? null : await fileAt(file);
    if (found) return send(ctx, file, found, rel.startsWith('assets/') ? IMMUTABLE : REVALIDATE);
    // a missing asset is a 404, not the page: a stale page asking for an old chunk must fail plainly
    if (rel.startsWith('assets/') || path.extname(rel) !== '') ctx.throw(404, 'Not Found');
    const index = path.join(root, 'index.html');
    const page = await fileAt(index);
    if (!page) return ctx.throw(404, 'The console is not built: run npm run build');
    return send(ctx, index, page, REVALIDATE);
  };
}

function decoded(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

function setSecurityHeaders(ctx: Koa.Context): void {
  ctx.set('Content-Security-Policy', CONSOLE_CSP);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Frame-Options', 'DENY');
}

async function fileAt(file: string): Promise<{ size: number; mtimeMs: number } | null> {
  try {
    const s = await stat(file);
    return s.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : null;
  } catch {
    return null;
  }
}

function send(ctx: Koa.Context, file: string, s: { size: number; mtimeMs: number }, cacheControl: string): void {
  ctx.set('Cache-Control', cacheControl);
  ctx.etag = `W/"${s.size.toString(16)}-${Math.floor(s.mtimeMs).toString(16)}"`;
  ctx.lastModified = new Date(s.mtimeMs);
  ctx.type = TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  ctx.status = 200;
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  // HEAD: koa sends the headers alone; no file is opened for a body nobody reads
  ctx.body = ctx.method === 'HEAD' ? Buffer.alloc(0) : createReadStream(file);
  ctx.length = s.size;
}
