import type { MigrationInterface, QueryRunner } from 'typeorm';

/** What sealing adds to a deferred body (AES-GCM IV 12 + tag 16, message-cipher.ts): the ledger counts the body as sent. */
const SEALED_OVERHEAD = 28;

/**
 * Storage quotas (issue 11, H3): the per-user usage ledger and the per-user quota overrides.
 *
 * `storage_usage` is kept exact by SQL increments in the transactions that store and delete
 * conversation messages and deferred messages (quota/storage-quota.ts), so it is never rescanned;
 * several nodes sharing one store would agree because each writes increments, not totals.
 * `warned_level` is the highest warning threshold (percent) the user was told about.
 * The ledger starts from the data already there (conversation owners are AORs, sip:user@domain).
 */
export class StorageQuota1764730000000 implements MigrationInterface {
  name = 'StorageQuota1764730000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "storage_usage" (
      "username" varchar PRIMARY KEY NOT NULL,
      "conversation_bytes" bigint NOT NULL DEFAULT 0,
      "deferred_bytes" bigint NOT NULL DEFAULT 0,
      "warned_level" integer NOT NULL DEFAULT 0)`);
    await q.query(`CREATE TABLE "storage_quotas" (
      "username" varchar PRIMARY KEY NOT NULL,
      "bytes" bigint NOT NULL,
      "updated_at" bigint NOT NULL)`);
    await q.query(
      `INSERT INTO "storage_usage" ("username", "conversation_bytes")
       SELECT substr("owner", instr("owner", ':') + 1, instr("owner", '@') - instr("owner", ':') - 1), SUM("bytes")
       FROM "conversations" WHERE instr("owner", '@') > 0 GROUP BY 1`,
    );
    await q.query(
      `INSERT INTO "storage_usage" ("username", "deferred_bytes")
       SELECT "recipient", SUM(MAX(LENGTH("body") - ${SEALED_OVERHEAD}, 0)) FROM "deferred_messages" GROUP BY "recipient"
       ON CONFLICT ("username") DO UPDATE SET "deferred_bytes" = excluded."deferred_bytes"`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "storage_quotas"`);
    await q.query(`DROP TABLE "storage_usage"`);
  }
}
