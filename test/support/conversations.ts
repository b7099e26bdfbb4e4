import path from 'node:path';
import sqlite3 from 'sqlite3';
import type { RunningAppliance } from './appliance.js';
import { MessageCipher } from '../../appliance/src/im/deferred/message-cipher.js';

/** A stored conversation as its owner will list it (im-history, H1). */
export interface StoredConversation {
  publicId: string;
  owner: string;
  kind: string;
  name: string;
  peers: string[];
  recording: boolean;
  messageCount: number;
}

/** A stored message, its body opened with the data folder's key (as the retrieval API will). */
export interface StoredMessage {
  sender: string;
  recipients: string[];
  contentType: string;
  body: string;
  storedAt: number;
}

async function query<T>(app: RunningAppliance, sql: string, params: unknown[] = []): Promise<T[]> {
  const db = new sqlite3.Database(path.join(app.dataDir, 'parley.sqlite'), sqlite3.OPEN_READONLY);
  try {
    return await new Promise((resolve, reject) => db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[]))));
  } finally {
    db.close();
  }
}

/** `owner`'s stored conversations, oldest first. */
export async function conversationsOf(app: RunningAppliance, owner: string): Promise<StoredConversation[]> {
  const rows = await query<Record<string, unknown>>(app, 'SELECT * FROM conversations WHERE owner = ? ORDER BY id', [owner]);
  return rows.map((r) => ({
    publicId: String(r.public_id),
    owner: String(r.owner),
    kind: String(r.kind),
    name: String(r.name),
    peers: JSON.parse(String(r.peers)) as string[],
    recording: Number(r.recording) === 1,
    messageCount: Number(r.message_count),
  }));
}

/** A conversation's messages in order, bodies opened. */
export async function messagesOf(app: RunningAppliance, publicId: string): Promise<StoredMessage[]> {
  const cipher = MessageCipher.loadOrCreate(app.dataDir);
  const rows = await query<Record<string, unknown>>(
    app,
    'SELECT m.* FROM conversation_messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.public_id = ? ORDER BY m.id',
    [publicId],
  );
  return rows.map((r) => ({
    sender: String(r.sender),
    recipients: JSON.parse(String(r.recipients)) as string[],
    contentType: String(r.content_type),
    body: cipher.decrypt(r.body as Buffer, `conversation:${publicId}`).toString('utf8'),
    storedAt: Number(r.stored_at),
  }));
}

/** Rows of session history, oldest first (H2). */
export function sessionHistoryRows(app: RunningAppliance): Promise<Record<string, unknown>[]> {
  return query(app, 'SELECT * FROM session_history ORDER BY id');
}

/** Usage records (C5) of one kind for one user, oldest first. */
export function usageRecordsOf(app: RunningAppliance, kind: string, user: string): Promise<{ peer: string; outcome: string; reason: string | null; bytes: number | null }[]> {
  return query(app, 'SELECT peer, outcome, reason, bytes FROM usage_records WHERE kind = ? AND user = ? ORDER BY id', [kind, user]);
}
