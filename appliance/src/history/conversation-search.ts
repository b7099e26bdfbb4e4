import type { DataSource } from 'typeorm';
import type { ConversationRow } from '../store/entities.js';

/** What the console searches stored conversations by (every field optional, all of them AND). */
export interface ConversationFilter {
  /** an AOR: the conversation's owner, or the sender of one of its messages */
  participant?: string;
  /** an AOR among the conversation's peers */
  peer?: string;
  /** a group or room URI among the conversation's peers (a room conversation names its room first) */
  group?: string;
  /** server time (ms) of matching messages: from inclusive, to exclusive */
  from?: number;
  to?: number;
  /** words typed by a person; never read as FTS5 syntax (see {@link ftsQuery}) */
  keyword?: string;
}

/** A conversation that matched, with how many of its messages did and when the newest of them was stored. */
export interface ConversationHitRow extends ConversationRow {
  hits: number;
  lastHitAt: number;
}

/**
 * A MATCH expression for FTS5 from whatever a person typed: each word becomes a quoted phrase
 * (inner `"` doubled, the FTS5 string rule), so `AND`, `NEAR(`, `-`, `:` or a lone quote are words,
 * never operators; the phrases are ANDed (FTS5's implicit AND). A word ending in `*` matches
 * as a prefix. Words without a letter or digit are dropped: the unicode61 tokenizer would make
 * an empty phrase of them. Returns null when nothing searchable is left (then nothing matches).
 *
 * @example ftsQuery('say "hi" NEAR(x') // '"say" """hi""" "NEAR(x"'
 */
export function ftsQuery(input: string): string | null {
  const words: string[] = [];
  for (const raw of input.split(/\s+/)) {
    const prefix = /[^*]\*+$/u.test(raw);
    const word = prefix ? raw.replace(/\*+$/u, '') : raw;
    if (!/[\p{L}\p{N}\p{Co}]/u.test(word)) continue;
    words.push(`"${word.replace(/"/g, '""')}"${prefix ? '*' : ''}`);
  }
  return words.length === 0 ? null : words.join(' ');
}

interface HitSqlRow {
  id: number;
  public_id: string;
  owner: string;
  kind: string;
  capture_key: string;
  name: string;
  peers: string;
  recording: number;
  created_at: number;
  first_at: number;
  last_at: number;
  message_count: number;
  bytes: number;
  hits: number;
  last_hit: number;
  total: number;
}

/**
 * The one place the conversation search query lives (A2). SQLite: the contentless FTS5 table
 * `conversation_fts` (rowid = message id) finds the messages by keyword, the stored_at index
 * bounds the time, and the matches are counted per conversation; the conversation filters
 * narrow the messages first. PostgreSQL would keep a `tsvector` column on conversation_messages
 * with a GIN index and `@@ plainto_tsquery(...)` in place of MATCH (docs/architecture.md): only this
 * module would change.
 */
export class ConversationSearch {
  constructor(private readonly ds: DataSource) {}

  /** One page of matching conversations, newest match first, and how many match in all. */
  async search(f: ConversationFilter, page: number, pageSize: number): Promise<{ items: ConversationHitRow[]; total: number }> {
    const convWhere: string[] = ['c.message_count > 0'];
    const convArgs: unknown[] = [];
    if (f.participant !== undefined) {
      convWhere.push('(c.owner = ? OR c.id IN (SELECT conversation_id FROM conversation_messages WHERE sender = ?))');
      convArgs.push(f.participant, f.participant);
    }
    for (const uri of [f.peer, f.group]) {
      if (uri === undefined) continue;
      convWhere.push('EXISTS (SELECT 1 FROM json_each(c.peers) WHERE json_each.value = ?)');
      convArgs.push(uri);
    }
    const msgWhere: string[] = [];
    const msgArgs: unknown[] = [];
    if (f.keyword !== undefined && f.keyword.trim() !== '') {
      const match = ftsQuery(f.keyword);
      if (match === null) return { items: [], total: 0 };
      msgWhere.push('m.id IN (SELECT rowid FROM conversation_fts WHERE conversation_fts MATCH ?)');
      msgArgs.push(match);
    }
    if (f.from !== undefined) {
      msgWhere.push('m.stored_at >= ?');
      msgArgs.push(f.from);
    }
    if (f.to !== undefined) {
      msgWhere.push('m.stored_at < ?');
      msgArgs.push(f.to);
    }
    const offset = (page - 1) * pageSize;
    let sql: string;
    let args: unknown[];
    if (msgWhere.length === 0) {
      // no message condition: every stored message is a hit, and the conversation keeps the counts
      sql = `SELECT c.*, c.message_count AS hits, c.last_at AS last_hit, COUNT(*) OVER () AS total
        FROM conversations c WHERE ${convWhere.join(' AND ')}
        ORDER BY c.last_at DESC, c.id DESC LIMIT ? OFFSET ?`;
      args = [...convArgs, pageSize, offset];
    } else {
      // the conversation filters go first, so only their messages are counted
      const narrowed = convArgs.length > 0 ? `AND m.conversation_id IN (SELECT c.id FROM conversations c WHERE ${convWhere.join(' AND ')})` : '';
      sql = `WITH hits AS (
          SELECT m.conversation_id AS cid, COUNT(*) AS hits, MAX(m.stored_at) AS last_hit
          FROM conversation_messages m WHERE ${msgWhere.join(' AND ')} ${narrowed}
          GROUP BY m.conversation_id)
        SELECT c.*, hits.hits, hits.last_hit, COUNT(*) OVER () AS total
        FROM hits JOIN conversations c ON c.id = hits.cid
        ORDER BY hits.last_hit DESC, c.id DESC LIMIT ? OFFSET ?`;
      args = [...msgArgs, ...convArgs, pageSize, offset];
    }
    const rows = (await this.ds.query(sql, args)) as HitSqlRow[];
    if (rows.length === 0 && offset > 0) {
      // past the last page: the window had no row to carry the total
      const all = await this.search(f, 1, 1);
      return { items: [], total: all.total };
    }
    return { items: rows.map(toHit), total: rows.length === 0 ? 0 : Number(rows[0].total) };
  }
}

function toHit(r: HitSqlRow): ConversationHitRow {
  return {
    id: r.id,
    publicId: r.public_id,
    owner: r.owner,
    kind: r.kind,
    captureKey: r.capture_key,
    name: r.name,
    peers: r.peers,
    recording: Boolean(r.recording),
    createdAt: Number(r.created_at),
    firstAt: Number(r.first_at),
    lastAt: Number(r.last_at),
    messageCount: Number(r.message_count),
    bytes: Number(r.bytes),
    hits: Number(r.hits),
    lastHitAt: Number(r.last_hit),
  };
}
