import type { DataSource } from 'typeorm';
import type { ExportJob as ExportJobOut, SessionHistoryEntry } from '@parley/shared';
import { SessionHistoryEntity, type ConversationRow, type SessionHistoryRow } from '../store/entities.js';
import type { LocalDomain } from '../core/local-domain.js';
import type { ConversationStore } from '../history/conversation-store.js';
import type { ConversationSearch } from '../history/conversation-search.js';
import { TooManyExportsError, type ExportJob, type ExportJobs } from '../history/export-jobs.js';
import { messageView } from '../history/message-view.js';
import { conversationSummary } from '../history/export-formats.js';
import type { Handlers } from './admin-api.js';
import { ApiError } from './api-error.js';

export interface ConversationRoutesDeps {
  ds: DataSource;
  store: ConversationStore;
  search: ConversationSearch;
  exports: ExportJobs;
  domain: LocalDomain;
}

function jobOf(j: ExportJob): ExportJobOut {
  return {
    id: j.id,
    conversation: j.conversation,
    format: j.format,
    state: j.state,
    done: j.done,
    total: j.total,
    filename: j.filename,
    error: j.error,
    createdAt: new Date(j.createdAt).toISOString(),
    expiresAt: j.expiresAt === null ? null : new Date(j.expiresAt).toISOString(),
  };
}

const sessionOf = (r: SessionHistoryRow): SessionHistoryEntry => ({
  id: r.id,
  kind: r.kind,
  caller: r.caller,
  callee: r.callee,
  startedAt: new Date(r.startedAt).toISOString(),
  endedAt: new Date(r.endedAt).toISOString(),
  durationMs: r.durationMs,
  messageCount: r.messageCount,
  endReason: r.endReason,
});

/**
 * Stored conversations for support and admins (issue 11, A2/A3): search across all users, the
 * reader, export jobs and their downloads, and a user's session history. Reading a conversation's
 * messages, starting an export and downloading one each append an audit record: support staff
 * see other people's messages, and the audit log is how that stays accountable.
 */
export function conversationRoutes(
  deps: ConversationRoutesDeps,
): Pick<Handlers, 'searchConversations' | 'getConversation' | 'conversationMessages' | 'createExport' | 'getExport' | 'downloadExport' | 'userSessions'> {
  /** A user name of our domain or a URI, as the stored AORs spell it. */
  const party = (v: string | undefined): string | undefined => {
    if (v === undefined) return undefined;
    const s = v.trim().toLowerCase();
    if (/^(sips?|tel):/.test(s)) return s;
    return s.includes('@') ? `sip:${s}` : deps.domain.aor(s);
  };
  const conversation = async (id: string): Promise<ConversationRow> => {
    const c = await deps.store.get(id);
    if (c === null) throw new ApiError(404, 'not_found', `no stored conversation ${id}`);
    return c;
  };
  /** A job of the caller's own (another account's job is as good as absent: 404). */
  const ownJob = async (id: string, actor: string | undefined): Promise<ExportJob> => {
    const job = await deps.exports.get(id);
    if (job === undefined || job.actor !== actor) throw new ApiError(404, 'not_found', `no export job ${id} (jobs expire an hour after they finish)`);
    return job;
  };

  return {
    async searchConversations({ query }) {
      const from = query.from === undefined ? undefined : Date.parse(query.from);
      const to = query.to === undefined ? undefined : Date.parse(query.to);
      if (from !== undefined && to !== undefined && from >= to) throw new ApiError(400, 'invalid_value', "'from' must be before 'to'", 'from');
      const filter = { participant: party(query.participant), peer: party(query.peer), group: party(query.group), from, to, keyword: query.q };
      const { items, total } = await deps.search.search(filter, query.page, query.pageSize);
      return { items: items.map((c) => ({ ...conversationSummary(c), hits: c.hits, lastHitAt: new Date(c.lastHitAt).toISOString() })), total };
    },
    async getConversation({ params }) {
      return conversationSummary(await conversation(params.id));
    },
    async conversationMessages({ params, query, audit }) {
      const c = await conversation(params.id);
      const page = await deps.store.messages(c, query.after, query.limit);
      await audit('conversation.read', c.publicId, null, { owner: c.owner, after: query.after, messages: page.length });
      return {
        items: page.map((m) => ({
          id: m.id,
          sender: m.sender,
          recipients: m.recipients,
          contentType: m.contentType,
          ...messageView(m.contentType, m.body),
          bytes: m.bytes,
          storedAt: new Date(m.storedAt).toISOString(),
          messageId: m.messageId,
        })),
        next: page.length === query.limit ? page[page.length - 1].id : null,
      };
    },
    async createExport({ params, body, session, audit }) {
      const c = await conversation(params.id);
      let job: ExportJob;
      try {
        job = await deps.exports.start(c, body.format, session!.account.name);
      } catch (err) {
        if (err instanceof TooManyExportsError) throw new ApiError(429, 'too_many_exports', err.message);
        throw err;
      }
      await audit('conversation.export', c.publicId, null, { owner: c.owner, format: job.format, job: job.id, messages: job.total });
      return jobOf(job);
    },
    async getExport({ params, session }) {
      return jobOf(await ownJob(params.job, session?.account.name));
    },
    async downloadExport({ params, session, ctx, audit }) {
      const job = await ownJob(params.job, session?.account.name);
      if (job.state !== 'done') throw new ApiError(409, 'not_ready', job.state === 'failed' ? `the export failed: ${job.error}` : `the export is still running (${job.done} of ${job.total})`);
      await audit('conversation.export.download', job.conversation, null, { format: job.format, job: job.id, messages: job.total });
      // RFC 6266: attachment with the file name (koa adds the filename* form for non-ASCII names)
      ctx.attachment(job.filename);
      ctx.type = job.contentType;
      ctx.length = job.bytes;
      return deps.exports.open(job);
    },
    async userSessions({ params, query }) {
      const aor = deps.domain.aor(params.name);
      const [rows, total] = await deps.ds.getRepository(SessionHistoryEntity).findAndCount({
        where: [{ caller: aor }, { callee: aor }],
        order: { id: 'DESC' },
        skip: (query.page - 1) * query.pageSize,
        take: query.pageSize,
      });
      return { items: rows.map(sessionOf), total };
    },
  };
}
