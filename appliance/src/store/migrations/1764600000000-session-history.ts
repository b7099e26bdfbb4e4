import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Session history (issue 10, S1/P4): one row per finished one-to-one or large-message session. */
export class SessionHistory1764600000000 implements MigrationInterface {
  name = 'SessionHistory1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "session_history" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "kind" varchar NOT NULL,
      "caller" varchar NOT NULL,
      "callee" varchar NOT NULL,
      "started_at" bigint NOT NULL,
      "ended_at" bigint NOT NULL,
      "duration_ms" bigint NOT NULL,
      "message_count" integer NOT NULL,
      "end_reason" varchar NOT NULL)`);
    await q.query(`CREATE INDEX "ix_session_history_caller" ON "session_history" ("caller", "started_at")`);
    await q.query(`CREATE INDEX "ix_session_history_callee" ON "session_history" ("callee", "started_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "session_history"`);
  }
}
