import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The Call-ID a stored pager message arrived with (P2, P5). A push from storage keeps it, as the
 * live forward does: clients that send SIP SIMPLE without CPIM (liblinphone's basic chat rooms)
 * use the Call-ID as the message's id, and their delivery notification names it. Rows stored
 * before this migration have none and are pushed with a new one, as before.
 */
export class DeferredCallId1764800000000 implements MigrationInterface {
  name = 'DeferredCallId1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "deferred_messages" ADD COLUMN "call_id" varchar`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "deferred_messages" DROP COLUMN "call_id"`);
  }
}
