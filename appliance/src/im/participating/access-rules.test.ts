import { describe, expect, it } from 'vitest';
import { AccessRules } from './access-rules.js';

const doc = (rules: string) =>
  `<?xml version="1.0"?><cp:ruleset xmlns:cp="urn:ietf:params:xml:ns:common-policy" xmlns:ir="urn:parley:params:xml:ns:im-rules">${rules}</cp:ruleset>`;
const rule = (id: string, conditions: string, handling: string) =>
  `<cp:rule id="${id}"><cp:conditions>${conditions}</cp:conditions><cp:actions><ir:im-handling>${handling}</ir:im-handling></cp:actions></cp:rule>`;

describe('IM access rules (RFC 4745 evaluation)', () => {
  it('allows by default and blocks a listed identity, comparing SIP URIs as AORs', () => {
    const r = AccessRules.parse(doc(rule('b', '<cp:identity><cp:one id="sip:Bob@Example.com;transport=tcp"/></cp:identity>', 'block')));
    expect(r.handlingFor('sip:Bob@example.com')).toBe('block');
    expect(r.handlingFor('sip:carol@example.com')).toBe('allow');
  });

  it('blocks a whole domain except listed people', () => {
    const r = AccessRules.parse(doc(rule('d', '<cp:identity><cp:many domain="spam.example"><cp:except id="sip:friend@spam.example"/></cp:many></cp:identity>', 'polite-block')));
    expect(r.handlingFor('sip:x@spam.example')).toBe('polite-block');
    expect(r.handlingFor('sip:friend@spam.example')).toBe('allow');
    expect(r.handlingFor('sip:x@other.example')).toBe('allow');
  });

  it('lets the most permissive matching rule win (RFC 4745 §10)', () => {
    const r = AccessRules.parse(
      doc(rule('all', '', 'block') + rule('bob', '<cp:identity><cp:one id="sip:bob@example.com"/></cp:identity>', 'allow')),
    );
    expect(r.handlingFor('sip:bob@example.com')).toBe('allow');
    expect(r.handlingFor('sip:eve@example.com')).toBe('block');
  });

  it('honours validity windows and ignores rules with conditions it does not know', () => {
    const past = '<cp:validity><cp:from>2000-01-01T00:00:00Z</cp:from><cp:until>2001-01-01T00:00:00Z</cp:until></cp:validity>';
    const r = AccessRules.parse(doc(rule('old', past, 'block') + rule('odd', '<cp:sphere value="work"/>', 'block')));
    expect(r.handlingFor('sip:eve@example.com')).toBe('allow');
  });
});
