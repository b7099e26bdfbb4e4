import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { xcapRequest, type XcapRequest } from '../support/xcap-client.js';

let app: RunningAppliance;
const RL = 'urn:ietf:params:xml:ns:resource-lists';
const MIME = 'application/resource-lists+xml';

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw', bob: 'bob-pw' } });
});
afterAll(async () => {
  await app?.cleanup();
});

const xcap = (method: string, path: string, opts: XcapRequest = {}): Promise<Response> => xcapRequest(app, method, path, opts);

const list = (entries: string[]) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<resource-lists xmlns="${RL}"><list name="friends">${entries.map((e) => `<entry uri="${e}"/>`).join('')}</list></resource-lists>`;
const DOC = 'resource-lists/users/sip:alice@parley.test/index';

describe('XCAP documents (RFC 4825 §7, §8)', () => {
  it('challenges with digest using the SIP credentials: MD5 alone to an unknown client, SHA-256 first to one that chooses', async () => {
    const res = await fetch(`http://127.0.0.1:${app.httpPort}/xcap-root/${DOC}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Digest realm="parley\.test".*algorithm=MD5/);
    expect(res.headers.get('www-authenticate')).not.toContain('SHA-256');
    const chooser = await fetch(`http://127.0.0.1:${app.httpPort}/xcap-root/${DOC}`, { headers: { 'User-Agent': 'Parley/0.1.0' } });
    expect(chooser.headers.get('www-authenticate')).toMatch(/^Digest realm="parley\.test".*algorithm=SHA-256.*, Digest .*algorithm=MD5/);
  });

  it('creates a document with PUT (201 + strong ETag) and reads it back with GET', async () => {
    const put = await xcap('PUT', DOC, { body: list(['sip:bob@parley.test']), headers: { 'Content-Type': MIME } });
    expect(put.status).toBe(201);
    const etag = put.headers.get('etag')!;
    expect(etag).toMatch(/^"[^"]+"$/);
    const get = await xcap('GET', DOC);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toContain(MIME);
    expect(get.headers.get('etag')).toBe(etag);
    expect(await get.text()).toContain('sip:bob@parley.test');
  });

  it('honours If-Match and If-None-Match (412, 304)', async () => {
    const etag = (await xcap('GET', DOC)).headers.get('etag')!;
    expect((await xcap('GET', DOC, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect((await xcap('PUT', DOC, { body: list(['sip:x@parley.test']), headers: { 'Content-Type': MIME, 'If-Match': '"stale"' } })).status).toBe(412);
    expect((await xcap('PUT', DOC, { body: list(['sip:x@parley.test']), headers: { 'Content-Type': MIME, 'If-None-Match': '*' } })).status).toBe(412);
    const ok = await xcap('PUT', DOC, { body: list(['sip:bob@parley.test', 'sip:carol@parley.test']), headers: { 'Content-Type': MIME, 'If-Match': etag } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).not.toBe(etag);
  });

  it('selects an element and an attribute by node selector', async () => {
    const el = await xcap('GET', `${DOC}/~~/resource-lists/list%5B@name=%22friends%22%5D/entry%5B2%5D`);
    expect(el.status).toBe(200);
    expect(el.headers.get('content-type')).toContain('application/xcap-el+xml');
    expect(await el.text()).toContain('sip:carol@parley.test');
    const att = await xcap('GET', `${DOC}/~~/resource-lists/list%5B1%5D/@name`);
    expect(att.headers.get('content-type')).toContain('application/xcap-att+xml');
    expect(await att.text()).toBe('friends');
    expect((await xcap('GET', `${DOC}/~~/resource-lists/list%5B9%5D`)).status).toBe(404);
  });

  it('refuses another user\'s tree (403) and writes to global documents (403)', async () => {
    expect((await xcap('GET', DOC, { user: 'bob' })).status).toBe(403);
    expect((await xcap('PUT', 'xcap-caps/global/index', { body: '<x/>', headers: { 'Content-Type': 'application/xcap-caps+xml' } })).status).toBe(403);
  });

  it('serves xcap-caps listing the auids and namespaces', async () => {
    const res = await xcap('GET', 'xcap-caps/global/index');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('<auid>resource-lists</auid>');
    expect(text).toContain(`<namespace>${RL}</namespace>`);
  });

  it('answers bad bodies with RFC 4825 §11 error documents', async () => {
    const bad = await xcap('PUT', DOC, { body: '<resource-lists xmlns="x"><list>', headers: { 'Content-Type': MIME } });
    expect(bad.status).toBe(409);
    expect(bad.headers.get('content-type')).toContain('application/xcap-error+xml');
    expect(await bad.text()).toMatch(/<xcap-error xmlns="urn:ietf:params:xml:ns:xcap-error"><not-well-formed /);
    const latin1 = await xcap('PUT', DOC, { body: Buffer.from([0x3c, 0x61, 0xe9, 0x2f, 0x3e]), headers: { 'Content-Type': MIME } });
    expect(await latin1.text()).toContain('<not-utf-8');
    const wrongRoot = await xcap('PUT', DOC, { body: `<rls-services xmlns="urn:ietf:params:xml:ns:rls-services"/>`, headers: { 'Content-Type': MIME } });
    expect(await wrongRoot.text()).toContain('<schema-validation-error');
  });

  it('validates against the usage\'s XSD: 409 schema-validation-error naming the fault', async () => {
    const bad = `<?xml version="1.0"?><resource-lists xmlns="${RL}"><list name="x"><bogus/></list></resource-lists>`;
    const res = await xcap('PUT', DOC, { body: bad, headers: { 'Content-Type': MIME } });
    expect(res.status).toBe(409);
    expect(await res.text()).toMatch(/<schema-validation-error phrase="[^"]*bogus[^"]*This element is not expected/);
    const rls = `<?xml version="1.0"?><rls-services xmlns="urn:ietf:params:xml:ns:rls-services" xmlns:rl="${RL}"><service uri="sip:friends@parley.test"><list name="f"><rl:entry uri="sip:bob@parley.test"/></list><packages><package>presence</package></packages></service></rls-services>`;
    const ok = await xcap('PUT', 'rls-services/users/sip:alice@parley.test/index', { body: rls, headers: { 'Content-Type': 'application/rls-services+xml' } });
    expect(ok.status).toBe(201);
  });

  it('refuses lists whose external references loop back (409 constraint-failure)', async () => {
    const self = (name: string) => `http://127.0.0.1:${app.httpPort}/xcap-root/${DOC}/~~/resource-lists/list%5B@name=%22${name}%22%5D`;
    const loop = `<?xml version="1.0"?><resource-lists xmlns="${RL}"><list name="a"><external anchor="${self('b')}"/></list><list name="b"><external anchor="${self('a')}"/></list></resource-lists>`;
    const res = await xcap('PUT', DOC, { body: loop, headers: { 'Content-Type': MIME } });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('<constraint-failure');
  });

  it('refuses DTDs and entity declarations (no entity expansion)', async () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><resource-lists xmlns="${RL}">&lol2;</resource-lists>`;
    const res = await xcap('PUT', DOC, { body: bomb, headers: { 'Content-Type': MIME } });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('not allowed');
  });

  it('refuses a wrong MIME type (415) and an oversized body (413)', async () => {
    expect((await xcap('PUT', DOC, { body: list([]), headers: { 'Content-Type': 'text/plain' } })).status).toBe(415);
    expect((await xcap('PUT', DOC, { body: 'x'.repeat(1_100_000), headers: { 'Content-Type': MIME } })).status).toBe(413);
  });

  it('deletes a document (and then it is gone)', async () => {
    expect((await xcap('DELETE', DOC)).status).toBe(200);
    expect((await xcap('GET', DOC)).status).toBe(404);
    expect((await xcap('DELETE', DOC)).status).toBe(404);
  });

  it('knows only the application usages it serves (404)', async () => {
    expect((await xcap('GET', 'no-such-auid/users/sip:alice@parley.test/index')).status).toBe(404);
  });
});
