import type Koa from 'koa';
import { mediaTypeOf } from '../sip/message/media-type.js';
import { ApiError } from './api-error.js';

/**
 * The raw request body, refused with 413 past `max` bytes: by Content-Length before reading,
 * or as soon as the bytes read pass it (a chunked body has no length to check first).
 */
async function readRaw(ctx: Koa.Context, max: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || 0);
  const tooLarge = () => new ApiError(413, 'too_large', `the request body is over ${max} bytes`);
  if (declared > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > max) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A JSON body (`application/json`, else 415: a cross-site form cannot send that type without a
 * CORS preflight, which we never grant). An empty body is `{}`, so `DELETE`-like POSTs with no
 * options need none.
 */
export async function readJson(ctx: Koa.Context, max: number): Promise<unknown> {
  const raw = await readRaw(ctx, max);
  if (raw.length === 0) return {};
  if (mediaTypeOf(ctx.get('content-type')) !== 'application/json') throw new ApiError(415, 'unsupported_media_type', 'the body must be application/json');
  try {
    return JSON.parse(decodeUtf8(raw)) as unknown;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(400, 'invalid_json', `the body is not JSON: ${(err as Error).message}`);
  }
}

/** A `text/csv` body as text: UTF-8 only (a BOM is dropped), else 415 or 400. */
export async function readCsv(ctx: Koa.Context, max: number): Promise<string> {
  if (mediaTypeOf(ctx.get('content-type')) !== 'text/csv') throw new ApiError(415, 'unsupported_media_type', 'the body must be text/csv');
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(ctx.get('content-type'))?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset)) throw new ApiError(415, 'unsupported_media_type', `the CSV must be UTF-8, not ${charset}`);
  return decodeUtf8(await readRaw(ctx, max)).replace(/^\uFEFF/, '');
}

function decodeUtf8(raw: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw new ApiError(400, 'invalid_encoding', 'the body is not valid UTF-8');
  }
}
