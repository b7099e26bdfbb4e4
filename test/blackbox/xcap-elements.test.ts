import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppliance, type RunningAppliance } from '../support/appliance.js';
import { xcapRequest, type XcapRequest } from '../support/xcap-client.js';

let app: RunningAppliance;
const RL = 'urn:ietf:params:xml:ns:resource-lists';
const DOC = 'resource-lists/users/sip:alice@parley.test/index';
const EL = { 'Content-Type': 'application/xcap-el+xml' };
const ATT = { 'Content-Type': 'application/xcap-att+xml' };
const xcap = (method: string, path: string, opts: XcapRequest = {}): Promise<Response> => xcapRequest(app, method, path, opts);
/** A node selector URI, percent-encoded as a client would send it. */
const node = (selector: string, query = '') => `${DOC}/~~/${encodeURI(selector).replace(/\[/g, '%5B').replace(/\]/g, '%5D')}${query}`;

beforeAll(async () => {
  app = await startAppliance({ users: { alice: 'alice-pw' } });
  const doc = `<?xml version="1.0" encoding="UTF-8"?>\n<resource-lists xmlns="${RL}"><list name="friends"><entry uri="sip:bob@parley.test"/><entry uri="sip:carol@parley.test"/></list></resource-lists>`;
  const res = await xcap('PUT', DOC, { body: doc, headers: { 'Content-Type': 'application/resource-lists+xml' } });
  expect(res.status).toBe(201);
});
afterAll(async () => {
  await app?.cleanup();
});

describe('XCAP element and attribute operations (RFC 4825 §7.4–§7.9)', () => {
  it('inserts an element by attribute selector (201) and reads it back; the document ETag changes', async () => {
    const before = (await xcap('GET', DOC)).headers.get('etag');
    const res = await xcap('PUT', node('resource-lists/list[@name="friends"]/entry[@uri="sip:dave@parley.test"]'), {
      body: '<entry uri="sip:dave@parley.test"><display-name>Dave</display-name></entry>',
      headers: EL,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('etag')).not.toBe(before);
    const got = await xcap('GET', node('resource-lists/list[@name="friends"]/entry[3]/display-name'));
    expect(await got.text()).toContain('Dave');
  });

  it('inserts at a position, and replaces an existing element (200)', async () => {
    expect((await xcap('PUT', node('resource-lists/list[@name="friends"]/entry[1]'), { body: '<entry uri="sip:adam@parley.test"/>', headers: EL })).status).toBe(200);
    const doc = await (await xcap('GET', DOC)).text();
    expect(doc.indexOf('sip:adam@')).toBeGreaterThan(0);
    expect(doc).not.toContain('sip:bob@');
  });

  it('refuses a body that the URI would not select afterwards (cannot-insert, §8.2.5)', async () => {
    const res = await xcap('PUT', node('resource-lists/list[@name="friends"]/entry[@uri="sip:x@parley.test"]'), { body: '<entry uri="sip:y@parley.test"/>', headers: EL });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('<cannot-insert');
  });

  it('answers no-parent with the closest existing ancestor', async () => {
    const res = await xcap('PUT', node('resource-lists/list[@name="nope"]/entry'), { body: '<entry uri="sip:z@parley.test"/>', headers: EL });
    expect(res.status).toBe(409);
    const body = await res.text();
    expect(body).toMatch(/<no-parent[^>]*><ancestor>http:\/\/127\.0\.0\.1:\d+\/xcap-root\/resource-lists\/users\/sip:alice@parley\.test\/index\/~~\/resource-lists<\/ancestor>/);
  });

  it('refuses a body that is not one element (not-xml-frag) or an invalid attribute value (not-xml-att-value)', async () => {
    const frag = await xcap('PUT', node('resource-lists/list[@name="friends"]/entry[9]'), { body: '<entry uri="a"/><entry uri="b"/>', headers: EL });
    expect(await frag.text()).toContain('<not-xml-frag');
    const att = await xcap('PUT', node('resource-lists/list[@name="friends"]/@name'), { body: 'a<b', headers: ATT });
    expect(await att.text()).toContain('<not-xml-att-value');
  });

  it('validates the resulting document against the schema', async () => {
    const res = await xcap('PUT', node('resource-lists/list[@name="friends"]/bogus'), { body: '<bogus/>', headers: EL });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('<schema-validation-error');
  });

  it('enforces uniqueness of entry URIs within a list, and proposes a free list name', async () => {
    const dup = await xcap('PUT', node('resource-lists/list[@name="friends"]/entry[1]'), { body: '<entry uri="sip:carol@parley.test"/>', headers: EL });
    expect(dup.status).toBe(409);
    // RFC 4825 §11: the field is a node selector, percent-encoded as in a URI
    expect(await dup.text()).toMatch(/<uniqueness-failure[^>]*><exists field="resource-lists\/list%5B@name=%22friends%22%5D\/entry%5B@uri=%22sip:carol@parley.test%22%5D\/@uri">/);
    await xcap('PUT', node('resource-lists/list[@name="work"]'), { body: '<list name="work"/>', headers: EL });
    const twin = await xcap('PUT', node('resource-lists/list[2]/@name'), { body: 'friends', headers: ATT });
    expect(twin.status).toBe(409);
    expect(await twin.text()).toContain('<alt-value>friends-2</alt-value>');
  });

  it('puts and deletes an attribute', async () => {
    expect((await xcap('PUT', node('resource-lists/list[@name="work"]/@name'), { body: 'office', headers: ATT })).status).toBe(409); // cannot-insert: the URI names it by that value
    expect((await xcap('PUT', node('resource-lists/list[2]/@name'), { body: 'office', headers: ATT })).status).toBe(200);
    expect(await (await xcap('GET', node('resource-lists/list[2]/@name'))).text()).toBe('office');
    expect((await xcap('DELETE', node('resource-lists/list[2]/@name'))).status).toBe(200);
    expect((await xcap('GET', node('resource-lists/list[2]/@name'))).status).toBe(404);
  });

  it('deletes an element; a positional delete that would hit the next sibling is cannot-delete', async () => {
    expect((await xcap('DELETE', node('resource-lists/list[@name="friends"]/entry[@uri="sip:dave@parley.test"]'))).status).toBe(200);
    expect((await xcap('GET', node('resource-lists/list[@name="friends"]/entry[@uri="sip:dave@parley.test"]'))).status).toBe(404);
    const pos = await xcap('DELETE', node('resource-lists/list[@name="friends"]/entry[1]'));
    expect(pos.status).toBe(409);
    expect(await pos.text()).toContain('<cannot-delete');
    expect((await xcap('DELETE', node('resource-lists/list[@name="friends"]/entry[7]'))).status).toBe(404);
  });

  it('returns namespace bindings and refuses to change them (405)', async () => {
    const ns = await xcap('GET', node('resource-lists/namespace::*'));
    expect(ns.headers.get('content-type')).toContain('application/xcap-ns+xml');
    expect(await ns.text()).toContain(`xmlns="${RL}"`);
    expect((await xcap('DELETE', node('resource-lists/namespace::*'))).status).toBe(405);
  });

  it('selects by combined position and attribute, by "*", and by prefixes bound with xmlns()', async () => {
    await xcap('PUT', node('resource-lists/list[@name="friends"]/entry[@uri="sip:erin@parley.test"]'), { body: '<entry uri="sip:erin@parley.test"/>', headers: EL });
    const both = await xcap('GET', node('resource-lists/list[1]/entry[2][@uri="sip:carol@parley.test"]/@uri'));
    expect(await both.text()).toBe('sip:carol@parley.test');
    expect((await xcap('GET', node('resource-lists/list[1]/entry[2][@uri="sip:nobody@parley.test"]'))).status).toBe(404);
    expect(await (await xcap('GET', node('resource-lists/*[1]/@name'))).text()).toBe('friends');
    const q = `?xmlns(r=${encodeURIComponent(RL)})`;
    const pre = await xcap('GET', node('r:resource-lists/r:list[@name="friends"]/r:entry[1]/@uri', q));
    expect(pre.status).toBe(200);
    expect(await pre.text()).toBe('sip:adam@parley.test');
    expect((await xcap('GET', node('x:resource-lists'))).status).toBe(400); // unbound prefix
  });

  it('applies concurrent unconditional element PUTs one after another (no spurious 412)', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        xcap('PUT', node(`resource-lists/list[@name="friends"]/entry[@uri="sip:burst${i}@parley.test"]`), { body: `<entry uri="sip:burst${i}@parley.test"/>`, headers: EL }).then((r) => r.status),
      ),
    );
    expect(statuses).toEqual([201, 201, 201, 201, 201, 201]);
    const doc = await (await xcap('GET', DOC)).text();
    for (let i = 0; i < 6; i++) expect(doc).toContain(`sip:burst${i}@parley.test`);
  });

  it('a refused edit inside a burst of edits of one document changes nothing: the others land, and the last of them gives the document its ETag', async () => {
    const put = (i: number, body: string) =>
      xcap('PUT', node(`resource-lists/list[@name="friends"]/entry[@uri="sip:wave${i}@parley.test"]`), { body, headers: EL }).then(async (r) => ({ status: r.status, etag: r.headers.get('etag'), text: await r.text() }));
    const results = await Promise.all([
      put(0, '<entry uri="sip:wave0@parley.test"/>'),
      put(1, '<entry uri="sip:wave1@parley.test"><bogus/></entry>'),
      put(2, '<entry uri="sip:wave2@parley.test"/>'),
      put(3, '<entry uri="sip:wave3@parley.test"><display-name>3</display-name><display-name>twice</display-name></entry>'),
      put(4, '<entry uri="sip:wave4@parley.test"/>'),
    ]);
    expect(results.map((r) => r.status)).toEqual([201, 409, 201, 409, 201]);
    expect(results[1].text).toContain('<schema-validation-error');
    expect(results[3].text).toContain('<schema-validation-error');
    const got = await xcap('GET', DOC);
    const doc = await got.text();
    for (const i of [0, 2, 4]) expect(doc).toContain(`sip:wave${i}@parley.test`);
    for (const i of [1, 3]) expect(doc).not.toContain(`sip:wave${i}@parley.test`);
    // the ETag of whichever accepted edit came last is the document's; they all differ
    const accepted = [0, 2, 4].map((i) => results[i].etag);
    expect(new Set(accepted).size).toBe(3);
    expect(accepted).toContain(got.headers.get('etag'));
  });

  it('honours If-Match on element operations', async () => {
    expect((await xcap('PUT', node('resource-lists/list[1]/entry[@uri="sip:q@parley.test"]'), { body: '<entry uri="sip:q@parley.test"/>', headers: { ...EL, 'If-Match': '"old"' } })).status).toBe(412);
  });
});

describe('XCAP element replacement checked on the element alone (same name, named schema type)', () => {
  const LISTS = 'resource-lists/users/sip:alice@parley.test/replacements';
  const at = (selector: string) => `${LISTS}/~~/${encodeURI(selector).replace(/\[/g, '%5B').replace(/\]/g, '%5D')}`;
  const replace = (selector: string, body: string) => xcap('PUT', at(selector), { body, headers: EL }).then(async (r) => ({ status: r.status, text: await r.text() }));

  beforeAll(async () => {
    const doc = `<?xml version="1.0" encoding="UTF-8"?>\n<resource-lists xmlns="${RL}"><list name="l"><entry uri="sip:one@parley.test"/><entry uri="sip:two@parley.test"/></list></resource-lists>`;
    expect((await xcap('PUT', LISTS, { body: doc, headers: { 'Content-Type': 'application/resource-lists+xml' } })).status).toBe(201);
  });

  it('refuses an invalid replacement with schema-validation-error naming the element, and keeps the document as it was', async () => {
    const before = await (await xcap('GET', LISTS)).text();
    const missing = await replace('resource-lists/list/entry[1]', '<entry><display-name>no uri</display-name></entry>');
    expect(missing.status).toBe(409);
    expect(missing.text).toContain('<schema-validation-error');
    expect(missing.text).toContain("Element '{urn:ietf:params:xml:ns:resource-lists}entry'");
    expect(missing.text).not.toContain('parley-subtree');
    const child = await replace('resource-lists/list/entry[2]', '<entry uri="sip:two@parley.test"><list/></entry>');
    expect(child.status).toBe(409);
    expect(child.text).toContain('<schema-validation-error');
    const namespace = await replace('resource-lists/list/entry[2]', `<entry xmlns:rl="${RL}" uri="sip:two@parley.test" rl:x="1"/>`);
    expect(namespace.status).toBe(409);
    expect(namespace.text).toContain('<schema-validation-error');
    expect(await (await xcap('GET', LISTS)).text()).toBe(before);
  });

  it('still checks the usage constraints on the whole document: a replacement repeating a sibling entry URI is a uniqueness-failure', async () => {
    const dup = await replace('resource-lists/list/entry[1]', '<entry uri="sip:two@parley.test"><display-name>Two again</display-name></entry>');
    expect(dup.status).toBe(409);
    expect(dup.text).toMatch(/<uniqueness-failure[^>]*><exists field="resource-lists\/list%5B@name=%22l%22%5D\/entry%5B@uri=%22sip:two@parley.test%22%5D\/@uri">/);
  });

  it('accepts a valid replacement (200) and serves it back as it was put', async () => {
    const ok = await replace('resource-lists/list/entry[2]', '<entry uri="sip:two@parley.test"><display-name xml:lang="en">Two</display-name></entry>');
    expect(ok.status).toBe(200);
    const got = await xcap('GET', at('resource-lists/list/entry[2]'));
    expect(await got.text()).toBe('<entry uri="sip:two@parley.test"><display-name xml:lang="en">Two</display-name></entry>');
  });
});

describe('XCAP element replacement spliced into the stored text', () => {
  const STYLED = 'resource-lists/users/sip:alice@parley.test/styled';
  const at = (selector: string) => `${STYLED}/~~/${encodeURI(selector).replace(/\[/g, '%5B').replace(/\]/g, '%5D')}`;
  const self = (name: string) => `http://127.0.0.1:${app.httpPort}/xcap-root/${STYLED}/~~/resource-lists/list%5B@name=%22${name}%22%5D`;

  it('keeps the rest of the document as the client wrote it (quotes, comments, spacing) through successive replacements, and the ETag is of those bytes', async () => {
    const bob = `<entry uri='sip:bob@parley.test'><display-name>Bob</display-name></entry>`;
    const carol = `<entry uri="sip:carol@parley.test"   />`;
    const doc = `<?xml version='1.0' encoding='UTF-8'?>\n<!-- alice's lists -->\n<resource-lists xmlns='${RL}'>\n  <list name='friends'>\n    ${bob}\n    <!-- <entry uri="sip:old@parley.test"/> -->\n    ${carol}\n  </list>\n</resource-lists>\n`;
    expect((await xcap('PUT', STYLED, { body: doc, headers: { 'Content-Type': 'application/resource-lists+xml' } })).status).toBe(201);
    const robert = '<entry uri="sip:bob@parley.test"><display-name>Robert &amp; co &gt; 1</display-name></entry>';
    expect((await xcap('PUT', at('resource-lists/list[@name="friends"]/entry[@uri="sip:bob@parley.test"]'), { body: robert, headers: EL })).status).toBe(200);
    const caroline = `<entry uri="sip:carol@parley.test"><display-name xml:lang="en">Caroline</display-name></entry>`;
    const put = await xcap('PUT', at('resource-lists/list[@name="friends"]/entry[2]'), { body: caroline, headers: EL });
    expect(put.status).toBe(200);
    const got = await xcap('GET', STYLED);
    expect(await got.text()).toBe(doc.replace(bob, robert).replace(carol, caroline));
    expect(got.headers.get('etag')).toBe(put.headers.get('etag'));
  });

  it('still refuses a replacement of a list that closes a loop of external references (409 constraint-failure)', async () => {
    const doc = `<?xml version="1.0"?><resource-lists xmlns="${RL}"><list name="a"><external anchor="${self('b')}"/></list><list name="b"><entry uri="sip:x@parley.test"/></list></resource-lists>`;
    expect((await xcap('PUT', STYLED, { body: doc, headers: { 'Content-Type': 'application/resource-lists+xml' } })).status).toBe(200);
    const res = await xcap('PUT', at('resource-lists/list[@name="b"]'), { body: `<list name="b"><external anchor="${self('a')}"/></list>`, headers: EL });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('<constraint-failure');
    // an entry's replacement cannot close one: it is answered as usual
    expect((await xcap('PUT', at('resource-lists/list[@name="b"]/entry'), { body: '<entry uri="sip:y@parley.test"/>', headers: EL })).status).toBe(200);
  });
});
