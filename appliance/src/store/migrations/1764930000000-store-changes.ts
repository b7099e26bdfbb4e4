import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * State shared by several nodes (issue 11):
 * - `store_changes`: one counter per topic of cached data (users, profiles, the quota ledger,
 *   recording conversations, XCAP documents per application usage), bumped in the transaction of
 *   every write that changes it; each node polls this one small table (store/store-changes.ts).
 * - `export_jobs` and `export_chunks`: conversation exports and their output, so any node answers
 *   a job's progress and serves its download, and a restart forgets nothing
 *   (history/export-jobs.ts).
 */
export class StoreChanges1764930000000 implements MigrationInterface {
  name = 'StoreChanges1764930000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "store_changes" (
      "topic" varchar PRIMARY KEY NOT NULL,
      "version" bigint NOT NULL)`);
    for (const topic of ['users', 'profiles', 'quota', 'recordings']) {
      await q.query(`INSERT INTO "store_changes" ("topic", "version") VALUES ('${topic}', 0)`);
    }
    await q.query(`CREATE TABLE "export_jobs" (
      "id" varchar PRIMARY KEY NOT NULL,
      "conversation" varchar NOT NULL,
      "format" varchar NOT NULL,
      "actor" varchar NOT NULL,
      "state" varchar NOT NULL,
      "done" integer NOT NULL,
      "total" integer NOT NULL,
      "bytes" bigint NOT NULL,
      "chunks" integer NOT NULL,
      "filename" varchar NOT NULL,
      "content_type" varchar NOT NULL,
      "error" varchar,
      "created_at" bigint NOT NULL,
      "heartbeat_at" bigint NOT NULL,
      "expires_at" bigint)`);
    await q.query(`CREATE INDEX "ix_export_jobs_expires" ON "export_jobs" ("expires_at")`);
    await q.query(`CREATE TABLE "export_chunks" (
      "job_id" varchar NOT NULL,
      "seq" integer NOT NULL,
      "data" blob NOT NULL,
      PRIMARY KEY ("job_id", "seq"))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "export_chunks"`);
    await q.query(`DROP TABLE "export_jobs"`);
    await q.query(`DROP TABLE "store_changes"`);
  }
}
