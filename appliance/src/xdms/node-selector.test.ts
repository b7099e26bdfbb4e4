import { describe, expect, it } from 'vitest';
import { DOMParser } from '@xmldom/xmldom';
import { parseNodeSelector, selectElements, selectOne, SelectorError, parseXmlnsQuery, type DomElement } from './node-selector.js';

const RL = 'urn:ietf:params:xml:ns:resource-lists';
const doc = new DOMParser().parseFromString(
  `<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns="${RL}" xmlns:x="urn:example:ext">
  <list name="friends">
    <entry uri="sip:bob@example.com"><display-name>Bob</display-name></entry>
    <entry uri="sip:carol@example.com" x:tag="a/b"><display-name>Carol</display-name></entry>
    <x:note>ext</x:note>
    <entry uri="sip:dave@example.com"/>
  </list>
  <list name="work"><entry uri="sip:bob@example.com"/></list>
</resource-lists>`,
  'text/xml',
);
const root = doc.documentElement as unknown as DomElement;
const pick = (selector: string, query = '') => selectElements(root, parseNodeSelector(selector, query), RL);
const attr = (el: DomElement, name: string) => el.getAttributeNS(null, name);

describe('node selector parsing (RFC 4825 §6.3)', () => {
  it('reads by-name, by-pos, by-attr and by-pos-attr steps and terminal selectors', () => {
    const s = parseNodeSelector('resource-lists/list[@name="friends"]/entry[2][@uri="sip:carol@example.com"]/@uri');
    expect(s.steps.map((x) => [x.name.local, x.position, x.attr?.value ?? null])).toEqual([
      ['resource-lists', null, null],
      ['list', null, 'friends'],
      ['entry', 2, 'sip:carol@example.com'],
    ]);
    expect(s.terminal).toEqual({ kind: 'attribute', name: { prefix: null, local: 'uri' } });
    expect(parseNodeSelector('resource-lists/namespace::*').terminal).toEqual({ kind: 'namespace' });
  });

  it("accepts single quotes, entity references and '/' inside attribute values", () => {
    const s = parseNodeSelector(`a/b[@c='x/y&amp;z']`);
    expect(s.steps[1].attr?.value).toBe('x/y&z');
  });

  it('refuses malformed selectors with a reason', () => {
    for (const bad of ['', 'a/b[0]', 'a/b[@c=unquoted]', 'a/b["x"', 'a/1b', 'a/b[1]x']) {
      expect(() => parseNodeSelector(bad), bad).toThrow(SelectorError);
    }
  });

  it('reads xmlns() bindings from the query', () => {
    expect([...parseXmlnsQuery(`xmlns(rl=${RL})xmlns(x=urn:example:ext)`)]).toEqual([
      ['rl', RL],
      ['x', 'urn:example:ext'],
    ]);
    expect(() => parseXmlnsQuery('xmlns(rl)')).toThrow(SelectorError);
  });
});

describe('node selector evaluation', () => {
  it('selects by attribute', () => {
    const [el] = pick('resource-lists/list[@name="work"]');
    expect(attr(el, 'name')).toBe('work');
  });

  it('counts a position among the siblings with that name, not among all children', () => {
    // the x:note between the entries does not count for entry[3]
    expect(attr(pick('resource-lists/list[@name="friends"]/entry[3]')[0], 'uri')).toBe('sip:dave@example.com');
    // with "*", every element child counts
    expect(pick('resource-lists/list[1]/*[3]')[0].localName).toBe('note');
  });

  it('applies a step to every element the previous step selected (XPath semantics)', () => {
    expect(pick('resource-lists/list/entry[@uri="sip:bob@example.com"]')).toHaveLength(2);
    expect(selectOne(root, parseNodeSelector('resource-lists/list/entry[@uri="sip:bob@example.com"]'), RL)).toBeNull();
  });

  it('resolves prefixes through xmlns() and unprefixed names to the default namespace', () => {
    expect(pick(`rl:resource-lists/rl:list[2]`, `xmlns(rl=${RL})`)).toHaveLength(1);
    expect(pick('resource-lists/list[1]/x:note', 'xmlns(x=urn:example:ext)')[0].localName).toBe('note');
    // an unprefixed name is in the usage's namespace, so it does not match x:note
    expect(pick('resource-lists/list[1]/note')).toEqual([]);
    expect(() => pick('rl:resource-lists')).toThrow(/not bound/);
  });

  it('matches namespaced attributes only with a bound prefix', () => {
    expect(pick('resource-lists/list[1]/entry[@x:tag="a/b"]', 'xmlns(x=urn:example:ext)')).toHaveLength(1);
    expect(pick('resource-lists/list[1]/entry[@tag="a/b"]')).toEqual([]);
  });

  it('selects nothing for a wrong root or an out-of-range position', () => {
    expect(pick('rls-services/list')).toEqual([]);
    expect(pick('resource-lists/list[9]')).toEqual([]);
    expect(pick('resource-lists[2]')).toEqual([]);
  });

  it('reports a terminal attribute with its namespace', () => {
    const s = selectOne(root, parseNodeSelector('resource-lists/list[1]/entry[2]/@x:tag', 'xmlns(x=urn:example:ext)'), RL);
    expect(s?.attributeNamespace).toBe('urn:example:ext');
    expect(s?.element.getAttributeNS(s.attributeNamespace, 'tag')).toBe('a/b');
  });
});
