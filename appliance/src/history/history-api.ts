import type Koa from 'koa';
import type { DataSource } from 'typeorm';
import type { Authenticator } from '../core/authenticator.js';
import type { LocalDomain } from '../core/local-domain.js';
import { SessionHistoryEntity, type ConversationRow, type SessionHistoryRow } from '../store/entities.js';
import { LessThan } from 'typeorm';
import { xcapAuth } from '../xdms/xcap-auth.js';
import type { XcapState } from '../xdms/xcap-context.js';
import type { ConversationStore, ReadMessage } from './conversation-store.js';
import { mediaType } from './stored-text.js';

export interface HistoryApiOptions {
  /** path of the API on the HTTP port, e.g. /history */
  prefix: string;
  /** the replay URI of a conversation (im-history's uri attribute) */
  replayUri: (publicId: string) => string;
}

/** A page's size when the client names none, and the most one page holds. */
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 500;

/** A JSON failure: `{ "error": "…" }` with its status. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * HTTP retrieval of stored conversations and session history (H1 retrieval, H2 reading), JSON,
 * behind the aggregation proxy's authentication (xcap-auth.ts: HTTP digest with the user's SIP
 * credentials, RFC 7616), on the XDMS's HTTP port:
 *
 * - `GET <prefix>/conversations`: the user's conversations (the im-history document's data)
 * - `GET <prefix>/conversations/<id>/messages?after=<message id>&limit=<n>`: messages, oldest first
 * - `GET <prefix>/sessions?before=<id>&limit=<n>`: the user's session history, newest first
 *
 * Pages end with `next`: the cursor for the next page, null on the last. Only the owner reads a
 * conversation: another user's is 403 (as in XCAP, where another user's tree is 403; ids are
 * unguessable, so 403 tells nothing a 404 would hide), an unknown id 404.
 */
export function historyApi(opts: HistoryApiOptions, deps: { auth: Authenticator; domain: LocalDomain; store: ConversationStore; ds: DataSource }): Koa.Middleware {
  const auth = xcapAuth(deps.auth);
  const prefix = `${opts.prefix}/`;
  const route = async (ctx: Koa.ParameterizedContext<XcapState>): Promise<void> => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      throw new ApiError(405, 'Method Not Allowed: the retrieval API is read-only; edit conversations through im-history (XCAP)');
    }
    const owner = deps.domain.aor(ctx.state.user);
    const parts = ctx.path.slice(prefix.length).split('/');
    if (parts.length === 1 && parts[0] === 'conversations') {
      const rows = await deps.store.list(owner);
      ctx.body = { conversations: rows.map((c) => conversationJson(c, opts.replayUri)) };
    } else if (parts.length === 3 && parts[0] === 'conversations' && parts[2] === 'messages') {
      const conversation = await deps.store.get(decodeSegment(parts[1]));
      if (conversation === null) throw new ApiError(404, 'No such conversation');
      if (conversation.owner !== owner) throw new ApiError(403, 'Forbidden: not your conversation');
      const limit = limitOf(ctx.query.limit);
      const page = await deps.store.messages(conversation, cursorOf(ctx.query.after, 'after'), limit + 1);
      const shown = page.slice(0, limit);
      ctx.body = { conversation: conversationJson(conversation, opts.replayUri), messages: shown.map(messageJson), next: page.length > limit ? shown[shown.length - 1].id : null };
    } else if (parts.length === 1 && parts[0] === 'sessions') {
      const limit = limitOf(ctx.query.limit);
      const before = cursorOf(ctx.query.before, 'before');
      const mine = before > 0 ? [{ caller: owner, id: LessThan(before) }, { callee: owner, id: LessThan(before) }] : [{ caller: owner }, { callee: owner }];
      const rows = await deps.ds.getRepository(SessionHistoryEntity).find({ where: mine, order: { id: 'DESC' }, take: limit + 1 });
      const shown = rows.slice(0, limit);
      ctx.body = { sessions: shown.map(sessionJson), next: rows.length > limit ? shown[shown.length - 1].id : null };
    } else {
      throw new ApiError(404, 'Not Found');
    }
  };
  return async (ctx, next) => {
    if (!ctx.path.startsWith(prefix)) return next();
    try {
      await auth(ctx as never, () => route(ctx as never));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      ctx.status = err.status;
      ctx.body = { error: err.message };
    }
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ApiError(400, 'Bad percent-encoding in the conversation id');
  }
}

/** `limit`: a positive integer, at most {@link MAX_PAGE} (larger ones are cut to it). */
function limitOf(v: unknown): number {
  if (v === undefined) return DEFAULT_PAGE;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1)) throw new ApiError(400, `limit must be a whole number from 1 to ${MAX_PAGE}`);
  return Math.min(n, MAX_PAGE);
}

/** A cursor: the id of the last item of the previous page (0: from the start). */
function cursorOf(v: unknown, name: string): number {
  if (v === undefined) return 0;
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new ApiError(400, `${name} must be the id of a message or session from a previous page`);
  return Number(v);
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** A conversation as the API shows it (the same facts as its im-history element). */
export function conversationJson(c: ConversationRow, replayUri: (publicId: string) => string): Record<string, unknown> {
  const started = c.firstAt || c.createdAt;
  return {
    id: c.publicId,
    name: c.name,
    kind: c.kind,
    peers: JSON.parse(c.peers) as string[],
    recording: c.recording,
    started: iso(started),
    startedMs: started,
    last: c.messageCount > 0 ? iso(c.lastAt) : null,
    lastMs: c.messageCount > 0 ? c.lastAt : null,
    messages: c.messageCount,
    bytes: c.bytes,
    uri: replayUri(c.publicId),
  };
}

/** Content types whose bodies are shown as text (when they are UTF-8): text/*, CPIM, JSON and XML. */
function textual(contentType: string): boolean {
  const t = mediaType(contentType);
  return t.startsWith('text/') || t === 'message/cpim' || t === 'application/json' || t.endsWith('+xml') || t.endsWith('/xml');
}

function utf8(body: Buffer): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return null;
  }
}

/** A stored message: text bodies as text, others base64 (`encoding` says which), server time ISO 8601 and ms. */
export function messageJson(m: ReadMessage): Record<string, unknown> {
  const text = textual(m.contentType) ? utf8(m.body) : null;
  return {
    id: m.id,
    sender: m.sender,
    recipients: m.recipients,
    contentType: m.contentType,
    encoding: text === null ? 'base64' : 'text',
    body: text ?? m.body.toString('base64'),
    bytes: m.bytes,
    time: iso(m.storedAt),
    timeMs: m.storedAt,
    messageId: m.messageId,
  };
}

function sessionJson(r: SessionHistoryRow): Record<string, unknown> {
  const { id, kind, caller, callee, startedAt, endedAt, durationMs, messageCount, endReason, ...more } = r;
  return { ...more, id, kind, caller, callee, started: iso(startedAt), startedMs: startedAt, ended: iso(endedAt), endedMs: endedAt, durationMs, messages: messageCount, endReason };
}
