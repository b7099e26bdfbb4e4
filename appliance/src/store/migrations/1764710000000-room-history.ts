import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Session history for rooms (issue 11, H2): a row per room membership (kind 'room': caller the
 * participant, callee the room URI), with what the participant sent and received; one-to-one rows
 * count the caller's side the same way. An index on the start time serves support's search by date.
 */
export class RoomHistory1764710000000 implements MigrationInterface {
  name = 'RoomHistory1764710000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "session_history" ADD COLUMN "sent_count" integer NOT NULL DEFAULT 0`);
    await q.query(`ALTER TABLE "session_history" ADD COLUMN "received_count" integer NOT NULL DEFAULT 0`);
    await q.query(`CREATE INDEX "ix_session_history_started" ON "session_history" ("started_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "ix_session_history_started"`);
    await q.query(`ALTER TABLE "session_history" DROP COLUMN "received_count"`);
    await q.query(`ALTER TABLE "session_history" DROP COLUMN "sent_count"`);
  }
}
