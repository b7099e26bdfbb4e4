import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { elementText } from './element-text.js';

const RL = 'urn:ietf:params:xml:ns:resource-lists';
const first = (xml: string, local: string) => new DOMParser().parseFromString(xml, 'text/xml').getElementsByTagNameNS('*', local)[0];

describe('elementText (RFC 4825 §8.3)', () => {
  const doc = `<resource-lists xmlns="${RL}" xmlns:x="urn:x"><list name="a" xmlns:own="urn:own"><x:tag own:k="v"/><entry uri="sip:b@e"><!-- c --><display-name>B &amp; &lt;co&gt;</display-name></entry><![CDATA[<raw>]]></list></resource-lists>`;

  it('adds no namespace declaration the element does not carry itself', () => {
    const list = first(doc, 'list');
    expect(new XMLSerializer().serializeToString(list)).toContain(`xmlns="${RL}"`); // what we must not do
    expect(elementText(list)).toBe(
      '<list name="a" xmlns:own="urn:own"><x:tag own:k="v"/><entry uri="sip:b@e"><!-- c --><display-name>B &amp; &lt;co&gt;</display-name></entry><![CDATA[<raw>]]></list>',
    );
  });

  it('keeps attribute values intact through escaping', () => {
    const el = first(`<a xmlns="urn:a" v="q&quot;&lt;&amp;&#10;&#9;x"/>`, 'a');
    const text = elementText(el);
    expect(text).toBe('<a xmlns="urn:a" v="q&quot;&lt;&amp;&#10;&#9;x"/>');
    expect(first(text, 'a').getAttribute('v')).toBe('q"<&\n\tx');
  });
});
