import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { xcapRequest } from '../support/xcap-client.js';

let app: RunningAppliance;
const ALICE = 'sip:alice@parley.test';

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw', bob: 'bob-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

const put = (auid: string, mime: string, body: string, doc = 'index') =>
  xcapRequest(app, 'PUT', `${auid}/users/${ALICE}/${doc}`, { body, headers: { 'Content-Type': mime } });

/** One valid and one invalid document per application usage (X2), validated against its XSD. */
const USAGES: { auid: string; mime: string; valid: string; invalid: string }[] = [
  {
    auid: 'pres-rules',
    mime: 'application/auth-policy+xml',
    valid: `<cr:ruleset xmlns:cr="urn:ietf:params:xml:ns:common-policy" xmlns:pr="urn:ietf:params:xml:ns:pres-rules"><cr:rule id="a"><cr:conditions><cr:identity><cr:one id="sip:bob@parley.test"/></cr:identity></cr:conditions><cr:actions><pr:sub-handling>allow</pr:sub-handling></cr:actions></cr:rule></cr:ruleset>`,
    invalid: `<cr:ruleset xmlns:cr="urn:ietf:params:xml:ns:common-policy" xmlns:pr="urn:ietf:params:xml:ns:pres-rules"><cr:rule id="a"><cr:actions><pr:sub-handling>maybe</pr:sub-handling></cr:actions></cr:rule></cr:ruleset>`,
  },
  {
    auid: 'org.openmobilealliance.pres-rules',
    mime: 'application/auth-policy+xml',
    valid: `<cr:ruleset xmlns:cr="urn:ietf:params:xml:ns:common-policy" xmlns:pr="urn:ietf:params:xml:ns:pres-rules" xmlns:ocp="urn:oma:xml:xdm:common-policy"><cr:rule id="wp_prs_allow_own"><cr:conditions><ocp:anonymous-request/></cr:conditions><cr:actions><pr:sub-handling>block</pr:sub-handling></cr:actions></cr:rule></cr:ruleset>`,
    invalid: `<cr:ruleset xmlns:cr="urn:ietf:params:xml:ns:common-policy" xmlns:ocp="urn:oma:xml:xdm:common-policy"><cr:rule id="x"><cr:conditions><ocp:anonymous-request>text</ocp:anonymous-request></cr:conditions></cr:rule></cr:ruleset>`,
  },
  {
    auid: 'pidf-manipulation',
    mime: 'application/pidf+xml',
    valid: `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${ALICE}"><tuple id="t1"><status><basic>open</basic></status><note>at my desk</note></tuple></presence>`,
    invalid: `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${ALICE}"><tuple id="t1"><status><basic>maybe</basic></status></tuple></presence>`,
  },
  {
    auid: 'org.openmobilealliance.groups',
    mime: 'application/vnd.oma.poc.groups+xml',
    valid: `<group xmlns="urn:oma:xml:poc:list-service" xmlns:rl="urn:ietf:params:xml:ns:resource-lists"><list-service uri="sip:team@parley.test"><display-name>Team</display-name><list><entry uri="sip:bob@parley.test"/></list><invite-members>true</invite-members><max-participant-count>20</max-participant-count></list-service></group>`,
    invalid: `<group xmlns="urn:oma:xml:poc:list-service"><list-service uri="sip:team@parley.test"><max-participant-count>many</max-participant-count></list-service></group>`,
  },
  {
    auid: 'im-preferences',
    mime: 'application/vnd.parley.im-preferences+xml',
    valid: `<im-preferences xmlns="urn:parley:params:xml:ns:im-prefs"><delivery>store</delivery><store-conversations>true</store-conversations></im-preferences>`,
    invalid: `<im-preferences xmlns="urn:parley:params:xml:ns:im-prefs"><delivery>carrier-pigeon</delivery></im-preferences>`,
  },
];

describe('application usages (X2): each validated against its schema', () => {
  it.each(USAGES.map((u) => [u.auid, u] as const))('%s', async (_auid, u) => {
    const bad = await put(u.auid, u.mime, u.invalid);
    expect(bad.status, await bad.clone().text()).toBe(409);
    expect(await bad.text()).toContain('<schema-validation-error');
    const ok = await put(u.auid, u.mime, u.valid);
    expect(ok.status, await ok.clone().text()).toBe(201);
  });

  it('im-history: generated from the stored conversations, validated against its schema, made-up conversations refused', async () => {
    const doc = `im-history/users/${ALICE}/index`;
    const res = await xcapRequest(app, 'GET', doc);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/vnd.parley.im-history+xml');
    expect(await res.text()).toBe('<?xml version="1.0" encoding="UTF-8"?>\n<history xmlns="urn:parley:params:xml:ns:im-history">\n</history>\n');
    const mime = 'application/vnd.parley.im-history+xml';
    const invalid = `<history xmlns="urn:parley:params:xml:ns:im-history"><conversation id="c1"/><conversation id="c1"/></history>`;
    const bad = await put('im-history', mime, invalid);
    expect(bad.status).toBe(409);
    expect(await bad.text()).toContain('<schema-validation-error');
    const madeUp = `<history xmlns="urn:parley:params:xml:ns:im-history"><conversation id="c1" name="Planning" started="2026-11-25T10:00:00Z" messages="12"><peer>sip:bob@parley.test</peer></conversation></history>`;
    const refused = await put('im-history', mime, madeUp);
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('<constraint-failure');
  });

  it('keeps group and RLS service URIs unique across the whole server, proposing a free one', async () => {
    const group = `<group xmlns="urn:oma:xml:poc:list-service"><list-service uri="sip:team@parley.test"><display-name>Also team</display-name></list-service></group>`;
    const clash = await xcapRequest(app, 'PUT', 'org.openmobilealliance.groups/users/sip:bob@parley.test/index', {
      user: 'bob', body: group, headers: { 'Content-Type': 'application/vnd.oma.poc.groups+xml' },
    });
    expect(clash.status).toBe(409);
    const text = await clash.text();
    expect(text).toContain('<uniqueness-failure');
    expect(text).toContain('<alt-value>sip:team-2@parley.test</alt-value>');
    const free = await xcapRequest(app, 'PUT', 'org.openmobilealliance.groups/users/sip:bob@parley.test/index', {
      user: 'bob', body: group.replace('sip:team@', 'sip:team-2@'), headers: { 'Content-Type': 'application/vnd.oma.poc.groups+xml' },
    });
    expect(free.status).toBe(201);
    // the owner may rewrite their own document with the same URI
    expect((await put('org.openmobilealliance.groups', 'application/vnd.oma.poc.groups+xml', USAGES[3].valid)).status).toBe(200);
  });

  it('lists every usage in xcap-caps', async () => {
    const caps = await (await xcapRequest(app, 'GET', 'xcap-caps/global/index')).text();
    for (const u of USAGES) expect(caps).toContain(`<auid>${u.auid}</auid>`);
    expect(caps).toContain('<auid>im-history</auid>');
    expect(caps).toContain('<auid>org.openmobilealliance.xcap-directory</auid>');
    expect(caps).toContain('<namespace>urn:parley:params:xml:ns:im-prefs</namespace>');
  });

  it('generates the xcap-directory with each document and its ETag (read-only)', async () => {
    const res = await xcapRequest(app, 'GET', `org.openmobilealliance.xcap-directory/users/${ALICE}/directory.xml`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/vnd.oma.xcap-directory+xml');
    const dir = await res.text();
    const etag = (await xcapRequest(app, 'GET', `pidf-manipulation/users/${ALICE}/index`)).headers.get('etag')!;
    expect(dir).toContain(`<folder auid="pidf-manipulation">`);
    expect(dir).toContain(`etag="${etag.replace(/"/g, '&quot;')}"`);
    expect(dir).toMatch(/<entry uri="http:\/\/127\.0\.0\.1:\d+\/xcap-root\/org\.openmobilealliance\.groups\/users\/sip:alice@parley\.test\/index"/);
    expect((await xcapRequest(app, 'PUT', `org.openmobilealliance.xcap-directory/users/${ALICE}/directory.xml`, { body: '<x/>', headers: { 'Content-Type': 'application/vnd.oma.xcap-directory+xml' } })).status).toBe(403);
  });
});
