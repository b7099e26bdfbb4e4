import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Conversation search in the console (issue 11, A2): "participant" finds conversations a user
 * sent a message in, not only those they own; this index keeps that lookup off a scan of every
 * stored message (history/conversation-search.ts).
 */
export class ConversationSearch1764750000000 implements MigrationInterface {
  name = 'ConversationSearch1764750000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX "ix_conversation_messages_sender" ON "conversation_messages" ("sender", "conversation_id")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "ix_conversation_messages_sender"`);
  }
}
