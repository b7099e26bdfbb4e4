import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The admin console (issue 8): console accounts (not SIP users), their sessions (in the store, so
 * every node of a cluster knows them) and the audit log (append-only for the API). Plus indexes
 * for the user list's sort orders, which must stay fast at 10,000 users.
 */
export class ConsoleAdmin1764450000000 implements MigrationInterface {
  name = 'ConsoleAdmin1764450000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "console_accounts" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "name" varchar NOT NULL,
      "role" varchar NOT NULL,
      "password_hash" varchar NOT NULL,
      "disabled" boolean NOT NULL DEFAULT (0),
      "created_at" bigint NOT NULL,
      "updated_at" bigint NOT NULL)`);
    await q.query(`CREATE UNIQUE INDEX "ix_console_accounts_name" ON "console_accounts" ("name")`);
    await q.query(`CREATE TABLE "console_sessions" (
      "id" varchar PRIMARY KEY NOT NULL,
      "account" varchar NOT NULL,
      "csrf_token" varchar NOT NULL,
      "created_at" bigint NOT NULL,
      "last_seen_at" bigint NOT NULL,
      "expires_at" bigint NOT NULL)`);
    await q.query(`CREATE INDEX "ix_console_sessions_account" ON "console_sessions" ("account")`);
    await q.query(`CREATE TABLE "audit_log" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "at" bigint NOT NULL,
      "actor" varchar NOT NULL,
      "source" varchar NOT NULL,
      "action" varchar NOT NULL,
      "target" varchar NULL,
      "before" text NULL,
      "after" text NULL)`);
    await q.query(`CREATE INDEX "ix_audit_log_at" ON "audit_log" ("at")`);
    await q.query(`CREATE INDEX "ix_audit_log_actor" ON "audit_log" ("actor", "at")`);
    await q.query(`CREATE INDEX "ix_audit_log_action" ON "audit_log" ("action", "at")`);
    await q.query(`CREATE INDEX "ix_users_created_at" ON "users" ("created_at")`);
    await q.query(`CREATE INDEX "ix_users_display_name" ON "users" ("display_name")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "ix_users_display_name"`);
    await q.query(`DROP INDEX "ix_users_created_at"`);
    await q.query(`DROP TABLE "audit_log"`);
    await q.query(`DROP TABLE "console_sessions"`);
    await q.query(`DROP TABLE "console_accounts"`);
  }
}
