import { describe, expect, it } from 'vitest';
import { PresRules } from './pres-rules.js';

const doc = (rules: string) =>
  `<?xml version="1.0"?><cr:ruleset xmlns:cr="urn:ietf:params:xml:ns:common-policy" xmlns:pr="urn:ietf:params:xml:ns:pres-rules" xmlns:ocp="urn:oma:xml:xdm:common-policy">${rules}</cr:ruleset>`;
const rule = (id: string, conditions: string, handling: string, transformations = '') =>
  `<cr:rule id="${id}"><cr:conditions>${conditions}</cr:conditions><cr:actions><pr:sub-handling>${handling}</pr:sub-handling></cr:actions>` +
  `${transformations ? `<cr:transformations>${transformations}</cr:transformations>` : ''}</cr:rule>`;
const one = (id: string) => `<cr:identity><cr:one id="${id}"/></cr:identity>`;

describe('pres-rules (RFC 5025 on RFC 4745, OMA default)', () => {
  it('confirms a watcher no rule matches (the OMA default)', () => {
    const p = PresRules.NONE.permissionFor('sip:stranger@example.com');
    expect(p).toMatchObject({ handling: 'confirm', byDefault: true });
  });

  it('takes the most permissive sub-handling of the matching rules and adds their transformations up', () => {
    const r = PresRules.parse(
      doc(
        rule('all', '<cr:identity><cr:many domain="example.com"/></cr:identity>', 'polite-block', '<pr:provide-services><pr:all-services/></pr:provide-services>') +
          rule('bob', one('sip:Bob@example.com'), 'allow', '<pr:provide-persons><pr:all-persons/></pr:provide-persons><pr:provide-activities/><pr:provide-note>false</pr:provide-note>'),
      ),
    );
    const bob = r.permissionFor('sip:bob@example.com');
    expect(bob.handling).toBe('allow');
    expect(bob.provide).toMatchObject({ services: true, persons: true, devices: false, allAttributes: false });
    expect([...bob.provide.attributes]).toEqual(['activities']);
    expect(r.permissionFor('sip:eve@example.com').handling).toBe('polite-block');
    expect(r.permissionFor('sip:eve@other.example').handling).toBe('confirm');
  });

  it('applies OMA other-identity only to watchers no other rule names', () => {
    const r = PresRules.parse(doc(rule('blocked', one('sip:eve@example.com'), 'block') + rule('others', '<ocp:other-identity/>', 'allow')));
    expect(r.permissionFor('sip:eve@example.com').handling).toBe('block');
    expect(r.permissionFor('sip:anyone@example.com').handling).toBe('allow');
  });

  it('never applies a rule with a condition it does not understand (RFC 4745 §7)', () => {
    const r = PresRules.parse(doc(rule('sphere', '<cr:sphere value="work"/>', 'allow')));
    expect(r.permissionFor('sip:bob@example.com').handling).toBe('confirm');
  });

  it('honours validity periods', () => {
    const r = PresRules.parse(doc(rule('v', `${one('sip:bob@example.com')}<cr:validity><cr:from>2020-01-01T00:00:00Z</cr:from><cr:until>2020-02-01T00:00:00Z</cr:until></cr:validity>`, 'allow')));
    expect(r.permissionFor('sip:bob@example.com', Date.parse('2020-01-15T00:00:00Z')).handling).toBe('allow');
    expect(r.permissionFor('sip:bob@example.com', Date.parse('2021-01-15T00:00:00Z')).handling).toBe('confirm');
  });
});
