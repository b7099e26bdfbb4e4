import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempStore } from '../../../test/support/temp-store.js';
import { MessageCipher } from '../im/deferred/message-cipher.js';
import { ConversationStore } from './conversation-store.js';
import { ConversationSearch, ftsQuery } from './conversation-search.js';

let temp: Awaited<ReturnType<typeof tempStore>>;
let store: ConversationStore;
let search: ConversationSearch;

const ALICE = 'sip:alice@parley.test';
const BOB = 'sip:bob@parley.test';
const CAROL = 'sip:carol@parley.test';
const ROOM = 'sip:team@conf.parley.test';
const msg = (sender: string, body: string, to = [BOB]) => ({ sender, recipients: to, contentType: 'text/plain', body: Buffer.from(body) });

beforeAll(async () => {
  temp = await tempStore('conversation-search');
  store = new ConversationStore(temp.ds, MessageCipher.loadOrCreate(temp.dir), { keywordIndex: true });
  search = new ConversationSearch(temp.ds);
  const ab = await store.start(ALICE, 'pager', `pager:${BOB}`, [BOB], 'Alice with Bob');
  await store.append(ab, msg(ALICE, 'Lunch in Zürich at noon?'), 1000);
  await store.append(ab, msg(BOB, 'Yes, noon is fine', [ALICE]), 2000);
  const ca = await store.start(CAROL, 'pager', `pager:${ALICE}`, [ALICE], 'Carol with Alice');
  await store.append(ca, msg(ALICE, 'the report is due at noon', [CAROL]), 3000);
  const room = await store.start(BOB, 'room', `room:${ROOM}:x`, [ROOM, ALICE], 'Team room');
  await store.append(room, msg(BOB, 'standup moved', [ROOM]), 4000);
  await store.start(CAROL, 'pager', `pager:${BOB}`, [BOB], 'empty');
});
afterAll(async () => {
  await temp.cleanup();
});

const ids = async (f: Parameters<ConversationSearch['search']>[0]) => (await search.search(f, 1, 50)).items.map((c) => [c.name, c.hits]);

describe('ftsQuery', () => {
  it('quotes every word, doubles inner quotes, keeps a trailing * as a prefix, drops words without letters', () => {
    expect(ftsQuery('say "hi" NEAR(x')).toBe('"say" """hi""" "NEAR(x"');
    expect(ftsQuery('caf* --- "')).toBe('"caf"*');
    expect(ftsQuery('  *** - ')).toBeNull();
  });
});

describe('conversation search', () => {
  it('finds by keyword across owners, folding diacritics, newest match first, with hit counts', async () => {
    expect(await ids({ keyword: 'noon' })).toEqual([['Carol with Alice', 1], ['Alice with Bob', 2]]);
    expect(await ids({ keyword: 'zurich' })).toEqual([['Alice with Bob', 1]]);
    expect(await ids({ keyword: 'stand*' })).toEqual([['Team room', 1]]);
  });

  it('narrows by participant (owner or sender), peer, group URI and time', async () => {
    // the room names alice as a peer, but she neither owns it nor sent a message in it
    expect(await ids({ participant: ALICE })).toEqual([['Carol with Alice', 1], ['Alice with Bob', 2]]);
    expect(await ids({ participant: BOB, keyword: 'noon' })).toEqual([['Alice with Bob', 2]]);
    expect(await ids({ peer: ALICE })).toEqual([['Team room', 1], ['Carol with Alice', 1]]);
    expect(await ids({ group: ROOM })).toEqual([['Team room', 1]]);
    expect(await ids({ from: 1500, to: 3500 })).toEqual([['Carol with Alice', 1], ['Alice with Bob', 1]]);
    expect(await ids({ keyword: 'noon', to: 1500 })).toEqual([['Alice with Bob', 1]]);
  });

  it('pages, with the total on every page and past the end', async () => {
    expect(await search.search({}, 2, 1)).toMatchObject({ total: 3, items: [{ name: 'Carol with Alice' }] });
    expect(await search.search({}, 9, 1)).toEqual({ total: 3, items: [] });
  });

  it('takes any string as a keyword without an FTS5 syntax error (operators and columns are plain words)', async () => {
    const hostile = ['"', '""', 'AND', 'OR NOT', 'NEAR(a b', '*', '-x', 'body:noon', "'; DROP TABLE conversations; --", '^noon', '(noon', 'noon)', '{body}: x', '\u0000', 'n\u00f6on*'];
    const results = await Promise.all(hostile.map((q) => search.search({ keyword: q }, 1, 10)));
    expect(results.map((r) => r.total)).toEqual(hostile.map((q) => (q === '^noon' || q === '(noon' || q === 'noon)' || q === 'n\u00f6on*' ? 2 : 0)));
  });
});
