import { describe, expect, it } from 'vitest';
import { DOMParser } from '@xmldom/xmldom';
import type { ConversationRow } from '../store/entities.js';
import { XcapError } from '../xdms/xcap-error.js';
import { diffHistory, editableState, editableStateOf, renderHistory } from './history-document.js';

const row = (publicId: string, over: Partial<ConversationRow> = {}): ConversationRow => ({
  id: publicId.length, publicId, owner: 'sip:alice@p.test', kind: 'pager', captureKey: `pager:${publicId}`, name: `Chat ${publicId}`,
  peers: JSON.stringify(['sip:bob@p.test']), recording: true, createdAt: 1000, firstAt: 2000, lastAt: 3000, messageCount: 2, bytes: 10, ...over,
});
const uri = (id: string) => `sip:history-${id}@p.test`;
const parse = (xml: string) => new DOMParser().parseFromString(xml, 'text/xml');
const doc = renderHistory([row('a'), row('bb', { recording: false, name: '' })], uri);
/** The generated document with `edit` applied to its text. */
const edited = (edit: (text: string) => string) => diffHistory(parse(doc), parse(edit(doc)));
const refusal = (edit: (text: string) => string): string => {
  try {
    edited(edit);
  } catch (err) {
    if (err instanceof XcapError) return `${err.status} ${err.condition}`;
    throw err;
  }
  return 'accepted';
};

describe('im-history document (H1)', () => {
  it('renders every conversation with the facts the server keeps', () => {
    expect(doc).toContain('<conversation id="a" name="Chat a" kind="pager" recording="true" started="1970-01-01T00:00:02.000Z" last="1970-01-01T00:00:03.000Z" messages="2" bytes="10" uri="sip:history-a@p.test"><peer>sip:bob@p.test</peer></conversation>');
    expect(doc).toContain('<conversation id="bb" kind="pager" recording="false"');
    expect(renderHistory([row('c', { messageCount: 0, firstAt: 0 })], uri)).toMatch(/started="1970-01-01T00:00:01\.000Z" messages="0"/);
  });

  it('reads renames, stops, deletions and re-saves', () => {
    expect(edited((t) => t.replace('name="Chat a"', 'name="Lunch"'))).toEqual({ remove: [], rename: [{ publicId: 'a', name: 'Lunch' }], stop: [], copy: [] });
    expect(edited((t) => t.replace('id="a" name="Chat a" kind="pager" recording="true"', 'id="a" name="Chat a" kind="pager" recording="false"')).stop).toEqual(['a']);
    expect(edited((t) => t.replace(/<conversation id="bb".*?<\/conversation>/, '')).remove).toEqual(['bb']);
    expect(edited((t) => t.replace('</history>', '<conversation resave-of="a" name="Copy"/></history>')).copy).toEqual([{ of: 'a', name: 'Copy' }]);
    expect(edited((t) => t.replace('</history>', '<conversation resave-of="a"/></history>')).copy).toEqual([{ of: 'a', name: 'Chat a' }]);
  });

  it('refuses what only the server decides', () => {
    expect(refusal((t) => t.replace('messages="2" bytes="10" uri="sip:history-a', 'messages="9" bytes="10" uri="sip:history-a'))).toBe('409 constraint-failure');
    expect(refusal((t) => t.replace('<peer>sip:bob@p.test</peer></conversation>', '<peer>sip:eve@p.test</peer></conversation>'))).toBe('409 constraint-failure');
    expect(refusal((t) => t.replace('id="bb" kind="pager" recording="false"', 'id="bb" kind="pager" recording="true"'))).toBe('409 constraint-failure');
    expect(refusal((t) => t.replace('id="a"', 'id="zz"'))).toBe('409 constraint-failure');
    expect(refusal((t) => t.replace('</history>', '<conversation name="new"><peer>sip:x@p.test</peer></conversation></history>'))).toBe('409 cannot-insert');
    expect(refusal((t) => t.replace('</history>', '<conversation resave-of="nope" name="x"/></history>'))).toBe('409 constraint-failure');
    expect(refusal((t) => t.replace('</history>', '<conversation resave-of="a" name="x"><peer>sip:x@p.test</peer></conversation></history>'))).toBe('409 constraint-failure');
  });

  it('tells the editable state of rows and of their document alike', () => {
    const rows = [row('a'), row('bb', { recording: false, name: '' })];
    expect(editableStateOf(parse(renderHistory(rows, uri)))).toBe(editableState(rows));
    expect(editableState([row('a', { name: 'x' })])).not.toBe(editableState([row('a')]));
  });
});
