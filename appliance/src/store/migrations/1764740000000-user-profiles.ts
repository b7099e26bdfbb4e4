import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Service profiles (issue 11, Y1/Y3): per-user overrides of the configured `profile.*` defaults. */
export class UserProfiles1764740000000 implements MigrationInterface {
  name = 'UserProfiles1764740000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "user_profiles" (
      "username" varchar PRIMARY KEY NOT NULL,
      "im" boolean,
      "group_chat" boolean,
      "storage" boolean,
      "max_message_bytes" integer,
      "content_types" text,
      "updated_at" bigint NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "user_profiles"`);
  }
}
