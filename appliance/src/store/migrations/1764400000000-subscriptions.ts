import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Event subscriptions (presence, winfo, RLS, xcap-diff) kept across a restart (issue: presence server). */
export class Subscriptions1764400000000 implements MigrationInterface {
  name = 'Subscriptions1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "subscriptions" (
      "id" varchar PRIMARY KEY NOT NULL,
      "event" varchar NOT NULL,
      "subscriber" varchar NOT NULL,
      "resource" varchar NOT NULL,
      "state" varchar NOT NULL,
      "expires_at" bigint NOT NULL,
      "dialog" text NOT NULL,
      "data" text NOT NULL,
      "seq_ceiling" integer NOT NULL)`);
    await q.query(`CREATE INDEX "ix_subscriptions_expires" ON "subscriptions" ("expires_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "subscriptions"`);
  }
}
