import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { rawXcapRequest, xcapRequest, type XcapRequest } from '../support/xcap-client.js';

/**
 * RFC 4825 conformance points a third-party XCAP client tripped on: element
 * bodies as they stand in the document, percent-encoded selectors in error
 * bodies, `*` preconditions on the selected node, 400 for malformed selectors,
 * and no dot segments in document selectors.
 */
let app: RunningAppliance;
const RL = 'urn:ietf:params:xml:ns:resource-lists';
const MIME = 'application/resource-lists+xml';
const EL = { 'Content-Type': 'application/xcap-el+xml' };
const ATT = { 'Content-Type': 'application/xcap-att+xml' };
const DOC = 'resource-lists/users/sip:alice@parley.test/index';
const xcap = (method: string, path: string, opts: XcapRequest = {}): Promise<Response> => xcapRequest(app, method, path, opts);
/** A node selector URI, percent-encoded as a client would send it. */
const node = (selector: string, query = '') => `${DOC}/~~/${encodeURI(selector).replace(/\[/g, '%5B').replace(/\]/g, '%5D')}${query}`;

const FRIENDS = '<list name="friends"><entry uri="sip:bob@parley.test"><display-name>Bob &amp; co &lt;3</display-name></entry></list>';
const NOTES = '<list name="notes" xmlns:ext="urn:example:ext"><ext:note ext:kind="x">hi</ext:note></list>';

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw', mallory: 'mallory-pw' } });
  const doc = `<?xml version="1.0" encoding="UTF-8"?>\n<resource-lists xmlns="${RL}" xmlns:unused="urn:example:unused">${FRIENDS}${NOTES}</resource-lists>`;
  expect((await xcap('PUT', DOC, { body: doc, headers: { 'Content-Type': MIME } })).status).toBe(201);
});
afterAll(async () => {
  await app?.cleanup();
});

describe('element GET (RFC 4825 §8.3)', () => {
  it('returns the element as it stands: no namespace declarations inherited from ancestors', async () => {
    const res = await xcap('GET', node('resource-lists/list[@name="friends"]'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/xcap-el+xml');
    expect(await res.text()).toBe(FRIENDS);
  });

  it("keeps the element's own namespace declarations and prefixes", async () => {
    expect(await (await xcap('GET', node('resource-lists/list[@name="notes"]'))).text()).toBe(NOTES);
  });
});

describe('error bodies (RFC 4825 §11)', () => {
  it('percent-encodes the node selector in <ancestor>', async () => {
    const res = await xcap('PUT', node('resource-lists/list[@name="friends"]/list[@name="sub"]/entry'), { body: '<entry uri="sip:z@parley.test"/>', headers: EL });
    expect(res.status).toBe(409);
    const body = await res.text();
    expect(body).toMatch(/<ancestor>http:\/\/127\.0\.0\.1:\d+\/xcap-root\/resource-lists\/users\/sip:alice@parley\.test\/index\/~~\/resource-lists\/list%5B@name=%22friends%22%5D<\/ancestor>/);
  });

  it('percent-encodes the node selector in <exists field>', async () => {
    const res = await xcap('PUT', node('resource-lists/list[@name="friends"]/entry[2]'), { body: '<entry uri="sip:bob@parley.test"/>', headers: EL });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('<exists field="resource-lists/list%5B@name=%22friends%22%5D/entry%5B@uri=%22sip:bob@parley.test%22%5D/@uri"');
  });
});

describe('`*` preconditions test the selected node (RFC 4825 §7.11, §8.2.6; RFC 9110 §13.1)', () => {
  const carol = node('resource-lists/list[@name="friends"]/entry[@uri="sip:carol@parley.test"]');
  const dave = node('resource-lists/list[@name="friends"]/entry[@uri="sip:dave@parley.test"]');

  it('If-None-Match: * creates an absent element (201), then refuses to replace it (412)', async () => {
    const created = await xcap('PUT', carol, { body: '<entry uri="sip:carol@parley.test"/>', headers: { ...EL, 'If-None-Match': '*' } });
    expect(created.status).toBe(201);
    const again = await xcap('PUT', carol, { body: '<entry uri="sip:carol@parley.test"/>', headers: { ...EL, 'If-None-Match': '*' } });
    expect(again.status).toBe(412);
  });

  it('If-Match: * refuses to create an absent element (412) and replaces an existing one (200)', async () => {
    expect((await xcap('PUT', dave, { body: '<entry uri="sip:dave@parley.test"/>', headers: { ...EL, 'If-Match': '*' } })).status).toBe(412);
    expect((await xcap('GET', dave)).status).toBe(404);
    const replaced = await xcap('PUT', carol, { body: '<entry uri="sip:carol@parley.test"><display-name>Carol</display-name></entry>', headers: { ...EL, 'If-Match': '*' } });
    expect(replaced.status).toBe(200);
  });

  it('GET: If-None-Match: * of an absent element is 404, of a present one 304', async () => {
    expect((await xcap('GET', dave, { headers: { 'If-None-Match': '*' } })).status).toBe(404);
    expect((await xcap('GET', carol, { headers: { 'If-None-Match': '*' } })).status).toBe(304);
    expect((await xcap('GET', carol, { headers: { 'If-Match': '*' } })).status).toBe(200);
  });

  it('DELETE: If-None-Match: * of an absent element is 404, of a present one 412', async () => {
    expect((await xcap('DELETE', dave, { headers: { 'If-None-Match': '*' } })).status).toBe(404);
    expect((await xcap('DELETE', carol, { headers: { 'If-None-Match': '*' } })).status).toBe(412);
    expect((await xcap('DELETE', carol, { headers: { 'If-Match': '*' } })).status).toBe(200);
  });

  it('attributes: If-None-Match: * creates an absent attribute, If-Match: * needs it to exist', async () => {
    const att = node('resource-lists/list[@name="notes"]/@extra');
    expect((await xcap('PUT', att, { body: 'x', headers: { ...ATT, 'If-Match': '*' } })).status).toBe(412);
    // an attribute in no namespace is not allowed by the schema: use a namespaced one
    const q = `?xmlns(ext=${encodeURIComponent('urn:example:ext')})`;
    const ext = node('resource-lists/list[@name="notes"]/@ext:tag', q);
    expect((await xcap('PUT', ext, { body: 'one', headers: { ...ATT, 'If-None-Match': '*' } })).status).toBe(201);
    expect((await xcap('PUT', ext, { body: 'two', headers: { ...ATT, 'If-None-Match': '*' } })).status).toBe(412);
  });

  it('entity tags in the list still compare with the document ETag', async () => {
    const etag = (await xcap('GET', DOC)).headers.get('etag')!;
    expect((await xcap('GET', node('resource-lists/list[@name="friends"]'), { headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect((await xcap('GET', node('resource-lists/list[@name="friends"]'), { headers: { 'If-Match': '"other"' } })).status).toBe(412);
    expect((await xcap('PUT', dave, { body: '<entry uri="sip:dave@parley.test"/>', headers: { ...EL, 'If-Match': etag } })).status).toBe(201);
  });
});

describe('malformed selectors are 400, not 404 (RFC 4825 §6.3, §6.4)', () => {
  it('answers a malformed node selector or xmlns() query with 400', async () => {
    const unbalanced = await xcap('GET', `${DOC}/~~/resource-lists/list%5B@name=%22friends%22`);
    expect(unbalanced.status).toBe(400);
    expect((await xcap('GET', `${DOC}/~~/resource-lists/li%20st`)).status).toBe(400);
    expect((await xcap('GET', node('r:resource-lists', '?xmlns(r=urn:x'))).status).toBe(400);
    expect((await xcap('GET', node('resource-lists/list[0]'))).status).toBe(400);
  });

  it('answers 400 for an unbound prefix on PUT and DELETE too (not a 500)', async () => {
    expect((await xcap('PUT', node('x:resource-lists/x:list'), { body: '<list name="q"/>', headers: EL })).status).toBe(400);
    expect((await xcap('DELETE', node('x:resource-lists/x:list'))).status).toBe(400);
  });

  it('still answers 404 for a document selector that names no resource', async () => {
    expect((await xcap('GET', 'resource-lists/elsewhere')).status).toBe(404);
    expect((await xcap('GET', 'resource-lists/users/sip:alice@parley.test/nope')).status).toBe(404);
  });
});

describe('dot segments in document selectors (RFC 3986 §3.3, §5.2.4)', () => {
  const bad = (xui: string, between: string) => `resource-lists/users/${xui}/${between}/sip:alice@parley.test/index`;
  const body = `<?xml version="1.0"?><resource-lists xmlns="${RL}"><list name="planted"/></resource-lists>`;

  it.each([
    ['..', '..'],
    ['%2e%2e', '%2e%2e'],
    ['%2E.', '%2E.'],
  ])('refuses a PUT through %s with 400 and stores nothing', async (_name, dots) => {
    const res = await rawXcapRequest(app, 'PUT', bad('sip:mallory@parley.test', dots), { user: 'mallory', body, headers: { 'Content-Type': MIME } });
    expect(res.status).toBe(400);
    const dir = await xcap('GET', 'org.openmobilealliance.xcap-directory/users/sip:mallory@parley.test/directory.xml', { user: 'mallory' });
    expect(await dir.text()).not.toContain('resource-lists');
  });

  it('refuses "." segments and dot segments in GET and DELETE too', async () => {
    expect((await rawXcapRequest(app, 'GET', 'resource-lists/users/sip:alice@parley.test/./index')).status).toBe(400);
    expect((await rawXcapRequest(app, 'DELETE', 'resource-lists/users/sip:alice@parley.test/x/../index')).status).toBe(400);
    expect((await xcap('GET', DOC)).status).toBe(200);
  });
});

describe('error reporting', () => {
  it('writes nothing unstructured: every failure above went to the JSON log, not console.error', () => {
    const unstructured = app.logs.filter((l) => l.trim() !== '' && !l.startsWith('{'));
    expect(unstructured).toEqual([]);
  });
});
