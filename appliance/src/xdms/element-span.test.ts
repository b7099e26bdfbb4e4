import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { elementPath, elementSpan } from './element-span.js';

type El = { nodeType: number; childNodes: ArrayLike<El>; parentNode: El | null; nodeName: string };

const parse = (text: string) => new DOMParser().parseFromString(text, 'text/xml');
const serialize = (n: unknown) => new XMLSerializer().serializeToString(n as never);

function elements(el: El, out: El[] = []): El[] {
  out.push(el);
  for (let i = 0; i < el.childNodes.length; i++) if (el.childNodes[i].nodeType === 1) elements(el.childNodes[i], out);
  return out;
}

/** Documents written the way clients write them: declarations, comments, CDATA, PIs, quotes holding markup. */
const DOCS = [
  '<a/>',
  '<?xml version="1.0"?>\n<!-- c --><a><b/><c x=">"/><d y=\'/>\'>t<e/></d></a>',
  `<?xml version='1.0' encoding='UTF-8'?><?pi x?>\n<rl:resource-lists xmlns:rl="urn:ietf:params:xml:ns:resource-lists">\n  <rl:list name='a&amp;b'>\n    <!-- <rl:entry uri="nope"/> -->\n    <rl:entry uri="sip:x@y"><rl:display-name><![CDATA[<rl:entry/> ]]></rl:display-name></rl:entry>\n    <?keep <rl:list>?>\n    <rl:entry uri="sip:z@y"   /><rl:list name="in"><rl:entry uri="q"></rl:entry></rl:list>\n  </rl:list>\n</rl:resource-lists>\n`,
];

describe('elementSpan: an element of a stored document, found in its text', () => {
  it('finds every element of each document: splicing a marker in its place parses to the DOM with that element replaced', () => {
    for (const text of DOCS) {
      const doc = parse(text);
      for (const el of elements(doc.documentElement as unknown as El)) {
        const path = elementPath(el)!;
        const span = elementSpan(text, path);
        expect(span, `${el.nodeName} in ${text}`).not.toBeNull();
        const spliced = text.slice(0, span!.start) + '<marker/>' + text.slice(span!.end);
        const expected = parse(text);
        let target = expected.documentElement as unknown as El;
        for (const i of path) target = Array.from(target.childNodes).filter((c) => c.nodeType === 1)[i];
        const marker = expected.createElementNS(null, 'marker');
        if (target.parentNode!.nodeType === 9) expected.replaceChild(marker, target as never);
        else (target.parentNode as unknown as { replaceChild(a: unknown, b: unknown): void }).replaceChild(marker, target);
        expect(serialize(parse(spliced)), `${el.nodeName} in ${text}`).toBe(serialize(expected));
      }
    }
  });

  it('gives up (null) on a path the text does not have, or a DOCTYPE', () => {
    expect(elementSpan('<a><b/></a>', [1])).toBeNull();
    expect(elementSpan('<a><b/></a>', [0, 0])).toBeNull();
    expect(elementSpan('<!DOCTYPE a><a/>', [])).toBeNull();
    expect(elementSpan('<a><b x="unterminated></a>', [0])).toBeNull();
  });

  it('elementPath: element-child positions from the document element, null for a detached element', () => {
    const doc = parse('<a>t<b/><!--c--><c><d/><e/></c></a>');
    const e = doc.getElementsByTagName('e')[0];
    expect(elementPath(e)).toEqual([1, 1]);
    expect(elementPath(doc.documentElement)).toEqual([]);
    expect(elementPath(doc.createElement('x'))).toBeNull();
  });
});
