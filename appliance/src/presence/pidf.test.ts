import { describe, expect, it } from 'vitest';
import { parsePidf, writePidf } from './pidf.js';

const body = (inner: string, root = '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@example.com">') =>
  Buffer.from(`<?xml version="1.0"?>${root}${inner}</presence>`);

describe('PIDF (RFC 3863, RFC 4479)', () => {
  it('splits a document into tuples, persons, devices, notes and extensions, and writes them back intact', () => {
    const parts = parsePidf(
      body('<tuple id="t"><status><basic>open</basic></status></tuple><dm:person id="p"><rpid:activities><rpid:away/></rpid:activities></dm:person><dm:device id="d"><dm:deviceID>urn:x</dm:deviceID></dm:device><note>hi</note><x:ext xmlns:x="urn:x"/>'),
    );
    expect([parts.tuples.length, parts.persons.length, parts.devices.length, parts.notes.length, parts.others.length]).toEqual([1, 1, 1, 1, 1]);
    const out = writePidf('sip:a@example.com', parts);
    expect(out).toContain('entity="sip:a@example.com"');
    expect(out).toMatch(/<rpid:activities xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"|xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"/);
    expect(out).toContain('<rpid:away/>');
    // what was written parses again
    expect(parsePidf(Buffer.from(out)).tuples).toHaveLength(1);
  });

  it('refuses what composition cannot rely on, naming the fault', () => {
    expect(() => parsePidf(Buffer.from([0xff, 0xfe]))).toThrow(/not UTF-8/);
    expect(() => parsePidf(Buffer.from('<!DOCTYPE x><presence/>'))).toThrow(/DTD/);
    expect(() => parsePidf(body('<tuple id="t">'))).toThrow(/Malformed PIDF/);
    expect(() => parsePidf(Buffer.from('<presence xmlns="urn:other" entity="x"/>'))).toThrow(/root must be <presence>/);
    expect(() => parsePidf(Buffer.from('<presence xmlns="urn:ietf:params:xml:ns:pidf"/>'))).toThrow(/needs an entity/);
    expect(() => parsePidf(body('<tuple><status/></tuple>'))).toThrow(/<tuple> needs an id/);
    expect(() => parsePidf(body('<tuple id="t"/>'))).toThrow(/one <status>/);
  });
});
