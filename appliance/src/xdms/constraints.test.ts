import { DOMParser } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { checkResourceLists, checkResourceListsAround } from './constraints.js';

const RL = 'urn:ietf:params:xml:ns:resource-lists';
const BASE = `<resource-lists xmlns="${RL}"><list name="a"><entry uri="sip:1@x"/><entry uri="sip:2@x"/><list name="in"><entry uri="sip:1@x"/></list></list><list name="b"/></resource-lists>`;

/** What each check says of a document: nothing, or the 409's condition and detail. */
function verdict(check: () => void): unknown {
  try {
    check();
    return null;
  } catch (err) {
    const e = err as { status: number; condition: string; message: string; detail: unknown };
    return { status: e.status, condition: e.condition, message: e.message, detail: e.detail };
  }
}

/** Puts `fragment` under the element `parentPath` selects (replacing its child `replace`, or appended). */
function edit(parentPath: number[], fragment: string, replace: number | null) {
  const doc = new DOMParser().parseFromString(BASE, 'text/xml');
  let parent = doc.documentElement as unknown as Element;
  for (const i of parentPath) parent = Array.from(parent.childNodes).filter((c) => c.nodeType === 1)[i] as Element;
  const fresh = doc.importNode(new DOMParser().parseFromString(`<w xmlns="${RL}">${fragment}</w>`, 'text/xml').documentElement!.firstChild as never, true) as unknown as Element;
  if (replace === null) parent.appendChild(fresh);
  else parent.replaceChild(fresh, Array.from(parent.childNodes).filter((c) => c.nodeType === 1)[replace]);
  return { doc, parent, fresh };
}

describe('checkResourceListsAround: the whole-document constraints, looked for where an element PUT changed the document', () => {
  const cases: [string, number[], string, number | null, boolean][] = [
    ['a new entry repeating a sibling URI', [0], '<entry uri="sip:2@x"/>', null, true],
    ['a replacement repeating the other sibling', [0], '<entry uri="sip:2@x"><display-name>two</display-name></entry>', 0, true],
    ['a replacement keeping its own URI', [0], '<entry uri="sip:1@x"><display-name>one</display-name></entry>', 0, false],
    ['a URI used in another list only', [1], '<entry uri="sip:2@x"/>', null, false],
    ['a list named like a sibling (alt-value proposed)', [], '<list name="a"/>', null, true],
    ['a new list holding a duplicate inside', [], '<list name="c"><entry uri="sip:9@x"/><entry uri="sip:9@x"/></list>', null, true],
    ['a nested list replaced by one repeating a name', [0], '<list name="in"><entry uri="q"/><list name="z"/><list name="z"/></list>', 2, true],
    ['an entry under an entry (not a list the walk visits)', [0, 0], '<entry uri="sip:1@x"/>', null, false],
  ];
  for (const [name, parentPath, fragment, replace, refused] of cases) {
    it(`${name}: ${refused ? '409' : 'accepted'}, as by the whole walk`, () => {
      const { doc, parent, fresh } = edit(parentPath, fragment, replace);
      expect(verdict(() => checkResourceLists(doc)) !== null).toBe(refused);
      expect(verdict(() => checkResourceListsAround(parent, fresh))).toEqual(verdict(() => checkResourceLists(doc)));
    });
  }
});
