import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Stored conversations (issue 11, H1): conversations, their sealed messages, and the keyword index.
 *
 * The index is an FTS5 table without content (`content=''`, `contentless_delete=1`, SQLite ≥ 3.43):
 * it keeps the inverted index of the words of text bodies, never the text itself, so the bodies stay
 * sealed at rest; its rowid is the message's id. The words are still in the index: an operator for whom
 * that is too much turns `history.keywordIndex` off (README). PostgreSQL would use a `tsvector`
 * column with a GIN index instead (docs/architecture.md).
 */
export class Conversations1764700000000 implements MigrationInterface {
  name = 'Conversations1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "conversations" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "public_id" varchar NOT NULL UNIQUE,
      "owner" varchar NOT NULL,
      "kind" varchar NOT NULL,
      "capture_key" varchar NOT NULL,
      "name" varchar NOT NULL,
      "peers" text NOT NULL,
      "recording" boolean NOT NULL,
      "created_at" bigint NOT NULL,
      "first_at" bigint NOT NULL,
      "last_at" bigint NOT NULL,
      "message_count" integer NOT NULL,
      "bytes" bigint NOT NULL)`);
    await q.query(`CREATE INDEX "ix_conversations_owner" ON "conversations" ("owner", "last_at")`);
    // at most one recording conversation per owner and capture key
    await q.query(`CREATE UNIQUE INDEX "ix_conversations_recording" ON "conversations" ("owner", "capture_key") WHERE "recording" = 1`);
    await q.query(`CREATE TABLE "conversation_messages" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "conversation_id" integer NOT NULL REFERENCES "conversations" ("id") ON DELETE CASCADE,
      "sender" varchar NOT NULL,
      "recipients" text NOT NULL,
      "content_type" varchar NOT NULL,
      "body" blob NOT NULL,
      "bytes" integer NOT NULL,
      "stored_at" bigint NOT NULL,
      "message_id" varchar)`);
    await q.query(`CREATE INDEX "ix_conversation_messages_conv" ON "conversation_messages" ("conversation_id", "id")`);
    await q.query(`CREATE INDEX "ix_conversation_messages_time" ON "conversation_messages" ("stored_at")`);
    await q.query(
      `CREATE VIRTUAL TABLE "conversation_fts" USING fts5(body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "conversation_fts"`);
    await q.query(`DROP TABLE "conversation_messages"`);
    await q.query(`DROP TABLE "conversations"`);
  }
}
