import type { MigrationInterface, QueryRunner } from 'typeorm';

/** XCAP documents of the IM and shared XDMS (issue: XDMS). */
export class XcapDocuments1764200000000 implements MigrationInterface {
  name = 'XcapDocuments1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE "xcap_documents" (
      "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
      "auid" varchar NOT NULL,
      "owner" varchar NOT NULL,
      "path" varchar NOT NULL,
      "content" text NOT NULL,
      "etag" varchar NOT NULL,
      "updated_at" bigint NOT NULL)`);
    await q.query(`CREATE UNIQUE INDEX "ix_xcap_documents_key" ON "xcap_documents" ("auid", "owner", "path")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "xcap_documents"`);
  }
}
