import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempStore } from '../../../../test/support/temp-store.js';
import { SessionHistory, type SessionRecord } from './session-history.js';

let temp: Awaited<ReturnType<typeof tempStore>>;
let history: SessionHistory;
const ALICE = 'sip:alice@parley.test';
const BOB = 'sip:bob@parley.test';
const ROOM = 'sip:team@parley.test';

/** A finished session or membership starting at `startedAt` (ms). */
const row = (kind: string, caller: string, callee: string, startedAt: number): SessionRecord => ({
  kind,
  caller,
  callee,
  startedAt,
  endedAt: startedAt + 1000,
  durationMs: 1000,
  messageCount: 3,
  sentCount: 1,
  receivedCount: 2,
  endReason: 'departed',
});

beforeAll(async () => {
  temp = await tempStore('session-history');
  history = new SessionHistory(temp.ds);
  // 25 of alice's (10 calls to bob, 10 room memberships, 5 calls from bob), 3 of others; in one concurrent burst
  const rows = [
    ...Array.from({ length: 10 }, (_, i) => row('one-to-one', ALICE, BOB, 1_000 + i)),
    ...Array.from({ length: 10 }, (_, i) => row('room', ALICE, ROOM, 2_000 + i)),
    ...Array.from({ length: 5 }, (_, i) => row('one-to-one', BOB, ALICE, 3_000 + i)),
    row('room', BOB, ROOM, 4_000),
    row('one-to-one', 'sip:carol@parley.test', BOB, 5_000),
    row('large-message', 'sip:carol@parley.test', 'sip:dave@parley.test', 6_000),
  ];
  await Promise.all(rows.map((r) => history.record(r)));
});
afterAll(async () => {
  await temp.cleanup();
});

describe('SessionHistory (H2): paging for the user, search for support', () => {
  it("pages through one user's sessions and memberships newest first, every row once, ending with next null", async () => {
    const seen: number[] = [];
    let page = await history.of(ALICE, { limit: 7 });
    const sizes = [page.rows.length];
    seen.push(...page.rows.map((r) => r.id));
    while (page.next !== null) {
      page = await history.of(ALICE, { before: page.next, limit: 7 });
      sizes.push(page.rows.length);
      seen.push(...page.rows.map((r) => r.id));
    }
    expect(sizes).toEqual([7, 7, 7, 4]);
    expect(new Set(seen).size).toBe(25);
    expect([...seen].sort((a, b) => b - a)).toEqual(seen);
    expect((await history.of(ALICE, { limit: 25 })).next).toBeNull();
  });

  it('searches by user, by a room URI, and by a start-time range, with the total and numbered pages', async () => {
    expect((await history.search({ user: ALICE, pageSize: 10 })).total).toBe(25);
    const room = await history.search({ user: ROOM });
    expect(room.total).toBe(11);
    expect(room.rows.every((r) => r.kind === 'room' && r.sentCount === 1 && r.receivedCount === 2)).toBe(true);
    const window = await history.search({ from: 2_005, to: 3_002, pageSize: 4, page: 2 });
    // 2005..2009 (5 rooms) and 3000..3001 (2 calls): 7, newest first; page 2 holds the 3 oldest
    expect(window).toMatchObject({ total: 7, page: 2, pageSize: 4 });
    expect(window.rows.map((r) => r.startedAt)).toEqual([2_007, 2_006, 2_005]);
    const both = await history.search({ user: BOB, from: 4_000 });
    expect(both.rows.map((r) => r.startedAt)).toEqual([5_000, 4_000]);
    // a page past the end is empty, not an error; a silly page size is bounded
    expect((await history.search({ user: ALICE, page: 99 })).rows).toEqual([]);
    expect((await history.search({ pageSize: 1e9 })).pageSize).toBe(500);
  });
});
