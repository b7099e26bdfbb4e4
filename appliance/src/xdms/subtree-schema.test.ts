import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { putElement, type EditContext } from './element-ops.js';
import { parseXcapPath } from './xcap-uri.js';
import { splitSteps } from './node-selector.js';
import { readSchema, SchemaValidator } from './schema-validator.js';
import { SubtreeSchemas, subtreeInput, type ExpandedName } from './subtree-schema.js';

const RL = 'urn:ietf:params:xml:ns:resource-lists';
const RL_SCHEMAS = ['resource-lists.xsd', 'xml.xsd'];
const rl = (local: string): ExpandedName => ({ ns: RL, local });
const subtrees = new SubtreeSchemas(readSchema);
let validator: SchemaValidator;

beforeAll(() => {
  // the built worker (npm run build): vitest runs the TypeScript sources, which a worker thread cannot load
  validator = new SchemaValidator({ spawn: () => new Worker(new URL('../../dist/xdms/schema-validator-worker.js', import.meta.url)) });
});
afterAll(async () => {
  await validator.close();
});

const LIST = `<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns="${RL}" xmlns:x="urn:example:other"><list name="friends"><display-name>Friends</display-name><entry uri="sip:a@example.com"><display-name xml:lang="en">A</display-name></entry><entry uri="sip:b@example.com"/><list name="inner"><entry uri="sip:c@example.com"/></list></list></resource-lists>`;

/**
 * Replaces the element `selector` names by `body` as an element PUT does, then
 * validates both ways: the whole document, and (when there is a plan) the new element alone.
 */
async function both(selector: string, body: string): Promise<{ whole: boolean; subtree: boolean | null; error: string | undefined }> {
  const doc = new DOMParser().parseFromString(LIST, 'text/xml');
  const uri = parseXcapPath(`resource-lists/users/sip:alice@example.com/index/~~/${encodeURI(selector).replace(/\[/g, '%5B').replace(/\]/g, '%5D')}`, '');
  const edit: EditContext = { doc, sel: uri.node!, defaultNs: RL, docUri: 'http://x/', rawSteps: splitSteps(uri.nodeText!.replace(/^\//, '')) };
  putElement(edit, body);
  const text = new XMLSerializer().serializeToString(doc as never);
  const whole = await validator.validate(text, RL_SCHEMAS);
  const input = edit.replacedBy === undefined ? null : subtreeInput(subtrees, RL_SCHEMAS, edit.replacedBy);
  const part = input === null ? null : await validator.validate(input.xml, RL_SCHEMAS, input.schema);
  return { whole: whole.valid, subtree: part?.valid ?? null, error: part?.errors[0] };
}

describe('SubtreeSchemas: where an element can be validated alone', () => {
  it('plans for elements of a named type, reached through the declared content models', () => {
    expect(subtrees.plan(RL_SCHEMAS, [rl('resource-lists'), rl('list'), rl('entry')])?.schema.contents).toContain('type="t:entryType"');
    expect(subtrees.plan(RL_SCHEMAS, [rl('resource-lists'), rl('list')])?.schema.contents).toContain('type="t:listType"');
    expect(subtrees.plan(RL_SCHEMAS, [rl('resource-lists'), rl('list'), rl('display-name')])?.schema.contents).toContain('type="t:display-nameType"');
    // a nested list's type extends listType through an inner, anonymous type
    expect(subtrees.plan(RL_SCHEMAS, [rl('resource-lists'), rl('list'), rl('list'), rl('entry')])?.schema.contents).toContain('type="t:entryType"');
  });

  it('has no plan for anonymous types, unknown places, wildcard content, or usages with IDs or identity constraints', () => {
    expect(subtrees.plan(RL_SCHEMAS, [rl('resource-lists'), rl('list'), rl('list')])).toBeNull();
    expect(subtrees.plan(RL_SCHEMAS, [rl('resource-lists'), rl('list'), rl('entry'), rl('display-name')])).toBeNull();
    expect(subtrees.plan(RL_SCHEMAS, [rl('resource-lists'), rl('list'), rl('bogus')])).toBeNull();
    expect(subtrees.plan(RL_SCHEMAS, [rl('resource-lists'), rl('list'), { ns: 'urn:example:other', local: 'entry' }])).toBeNull();
    expect(subtrees.plan(RL_SCHEMAS, [rl('resource-lists')])).toBeNull();
    const policy = 'urn:ietf:params:xml:ns:common-policy';
    expect(subtrees.plan(['pres-rules.xsd', 'common-policy.xsd'], [{ ns: policy, local: 'ruleset' }, { ns: policy, local: 'rule' }])).toBeNull();
  });
});

describe('subtreeInput: the new element alone rejects what the whole document rejects', () => {
  const entry = 'resource-lists/list[@name="friends"]/entry[2]';
  const cases: [name: string, selector: string, body: string][] = [
    ['a valid entry', entry, '<entry uri="sip:b@example.com"><display-name>B</display-name></entry>'],
    ['a foreign element where the schema allows one (##other)', entry, '<entry uri="sip:b@example.com"><x:note>n</x:note></entry>'],
    ['a missing required attribute', 'resource-lists/list[@name="friends"]/entry[1]', '<entry><display-name>A</display-name></entry>'],
    ['an unknown child element', entry, '<entry uri="sip:b@example.com"><bogus/></entry>'],
    ['a child of the right name in the wrong namespace', entry, '<entry uri="sip:b@example.com"><display-name xmlns="urn:example:wrong">B</display-name><display-name>B</display-name></entry>'],
    ['an attribute in the list namespace itself (anyAttribute is ##other)', entry, '<entry xmlns:rl="urn:ietf:params:xml:ns:resource-lists" uri="sip:b@example.com" rl:tag="1"/>'],
    ['display-name twice', entry, '<entry uri="sip:b@example.com"><display-name>1</display-name><display-name>2</display-name></entry>'],
    ['children out of order', entry, '<entry uri="sip:b@example.com"><x:note>n</x:note><display-name>B</display-name></entry>'],
    ['a malformed xml:lang', entry, '<entry uri="sip:b@example.com"><display-name xml:lang="not a language">B</display-name></entry>'],
    ['an entry where a list is expected', 'resource-lists/list[@name="friends"]/list[@name="inner"]/entry[1]', '<entry uri="sip:c@example.com"><list/></entry>'],
    ['a list with an invalid entry inside', 'resource-lists/list[@name="friends"]', '<list name="friends"><entry/></list>'],
    ['a valid list', 'resource-lists/list[@name="friends"]', '<list name="friends"><entry uri="sip:z@example.com"/></list>'],
    ['a display-name with an element in it', 'resource-lists/list[@name="friends"]/display-name', '<display-name>F<b/></display-name>'],
  ];
  it.each(cases)('%s', async (_name, selector, body) => {
    const r = await both(selector, body);
    expect(r.subtree).not.toBeNull(); // the case did take the subtree path
    expect(r.subtree).toBe(r.whole);
  });

  it('says which element failed by its own name, not the generated one', async () => {
    const r = await both('resource-lists/list[@name="friends"]/entry[1]', '<entry><display-name>A</display-name></entry>');
    expect(r.subtree).toBe(false);
    expect(r.error).toContain('parley-subtree'); // the raw message; xcap-write.ts renames it for the client
  });

  it('falls back to the whole document for an xml:id (unique per document) or an xsi:type above the element', () => {
    const doc = new DOMParser().parseFromString(LIST.replace('<entry uri="sip:b@example.com"/>', '<entry uri="sip:b@example.com" xml:id="b"/>'), 'text/xml');
    expect(subtreeInput(subtrees, RL_SCHEMAS, doc.getElementsByTagName('entry')[1])).toBeNull();
    const typed = new DOMParser().parseFromString(
      LIST.replace('<list name="friends">', '<list name="friends" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="listType">'),
      'text/xml',
    );
    expect(subtreeInput(subtrees, RL_SCHEMAS, typed.getElementsByTagName('entry')[1])).toBeNull();
    expect(subtreeInput(subtrees, RL_SCHEMAS, doc.getElementsByTagName('entry')[0])).not.toBeNull();
  });
});
