import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Usage records (issue 11, C5): one row per chargeable event (messages, sessions, room
 * memberships, storage), read in time order by `parley usage export` and the console.
 */
export class UsageRecords1764720000000 implements MigrationInterface {
  name = 'UsageRecords1764720000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "usage_records" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "at" bigint NOT NULL,
      "kind" varchar NOT NULL,
      "user" varchar NOT NULL,
      "peer" varchar NOT NULL,
      "service" varchar,
      "outcome" varchar NOT NULL,
      "status" integer,
      "reason" varchar,
      "bytes" bigint,
      "messages" integer,
      "duration_ms" bigint)`);
    // the export reads a time range in (at, id) order (one user's too: a filter on that range,
    // so a write pays for one index only)
    await q.query(`CREATE INDEX "ix_usage_records_at" ON "usage_records" ("at", "id")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "usage_records"`);
  }
}
