import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Users, registrar bindings and the deferred-message store (issue: appliance foundation). */
export class InitialSchema1764100000000 implements MigrationInterface {
  name = 'InitialSchema1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "users" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "username" varchar NOT NULL UNIQUE,
      "disabled" boolean NOT NULL DEFAULT (0),
      "ha1_md5" varchar NOT NULL,
      "ha1_sha256" varchar NOT NULL,
      "realm" varchar NOT NULL,
      "created_at" bigint NOT NULL,
      "updated_at" bigint NOT NULL)`);
    await q.query(`CREATE TABLE "bindings" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "aor" varchar NOT NULL,
      "contact" varchar NOT NULL,
      "contact_uri" varchar NOT NULL,
      "q" real NOT NULL,
      "expires_at" bigint NOT NULL,
      "call_id" varchar NOT NULL,
      "cseq" integer NOT NULL,
      "transport" varchar NOT NULL,
      "source_address" varchar NOT NULL,
      "source_port" integer NOT NULL,
      "flow_id" varchar NOT NULL,
      "user_agent" varchar,
      "updated_at" bigint NOT NULL)`);
    await q.query(`CREATE UNIQUE INDEX "ix_bindings_aor_contact" ON "bindings" ("aor", "contact_uri")`);
    await q.query(`CREATE TABLE "deferred_messages" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "recipient" varchar NOT NULL,
      "from_header" varchar NOT NULL,
      "sender_aor" varchar NOT NULL,
      "content_type" varchar NOT NULL,
      "body" blob NOT NULL,
      "received_at" bigint NOT NULL,
      "expires_at" bigint NOT NULL,
      "attempts" integer NOT NULL DEFAULT (0),
      "next_attempt_at" bigint NOT NULL)`);
    await q.query(`CREATE INDEX "ix_deferred_recipient" ON "deferred_messages" ("recipient", "id")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "deferred_messages"`);
    await q.query(`DROP TABLE "bindings"`);
    await q.query(`DROP TABLE "users"`);
  }
}
