import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * User names become case-insensitive (kept in lower case) and users get a directory display
 * name. Rows that differ only in case cannot be merged automatically: the migration stops and
 * names them, so an admin removes one (nothing is changed until then). A renamed user's digest
 * hashes were computed over the old spelling, so their clients keep working with it until the
 * password is set again (the new hashes are then over the lower-case name).
 */
export class UserNames1764300000000 implements MigrationInterface {
  name = 'UserNames1764300000000';

  async up(q: QueryRunner): Promise<void> {
    const clashes = (await q.query(
      `SELECT lower("username") AS "name", COUNT(*) AS "n" FROM "users" GROUP BY lower("username") HAVING COUNT(*) > 1`,
    )) as { name: string }[];
    if (clashes.length > 0) {
      throw new Error(
        `user names are now case-insensitive, and these exist in several spellings: ${clashes.map((c) => c.name).join(', ')}; ` +
          `delete the extra rows (for example: sqlite3 parley.sqlite "DELETE FROM users WHERE username = 'Alice'") and start again`,
      );
    }
    await q.query(`ALTER TABLE "users" ADD COLUMN "display_name" varchar NULL`);
    await q.query(`UPDATE "users" SET "username" = lower("username") WHERE "username" <> lower("username")`);
    await q.query(`UPDATE "bindings" SET "aor" = lower("aor") WHERE "aor" <> lower("aor")`);
    await q.query(`UPDATE "deferred_messages" SET "recipient" = lower("recipient"), "sender_aor" = lower("sender_aor") WHERE "recipient" <> lower("recipient") OR "sender_aor" <> lower("sender_aor")`);
    await q.query(`UPDATE "xcap_documents" SET "owner" = lower("owner") WHERE "owner" <> lower("owner")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "users" DROP COLUMN "display_name"`);
  }
}
