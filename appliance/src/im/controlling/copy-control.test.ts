import { describe, expect, it } from 'vitest';
import { historyList, withHistory } from './copy-control.js';
import { parseMultipart } from './multipart.js';
import type { Member } from '../../xdms/list-resolver.js';

const m = (uri: string, control?: 'to' | 'cc' | 'bcc', anonymize = false, display: string | null = null): Member => ({ uri, display, ...(control ? { copy: { control, anonymize } } : {}) });

describe('RFC 5364 copy control: the history list', () => {
  it('is null for a list without copy control (nothing was asked to be disclosed)', () => {
    expect(historyList([m('sip:a@x'), m('sip:b@x')])).toBeNull();
  });

  it('keeps to and cc in order, drops bcc, counts anonymized entries per level, and escapes what it writes', () => {
    const xml = historyList([m('sip:a@x', 'to', false, 'A & "B"'), m('sip:hidden1@x', 'to', true), m('sip:b@x'), m('sip:c@x', 'cc'), m('sip:secret@x', 'bcc'), m('sip:hidden2@x', 'to', true), m('sip:hidden3@x', 'cc', true)])!;
    expect(xml).toContain('xmlns:cp="urn:ietf:params:xml:ns:copycontrol"');
    const entries = [...xml.matchAll(/<entry uri="([^"]+)" cp:copyControl="(\w+)"(?: cp:count="(\d+)")?/g)].map((e) => [e[1], e[2], e[3] ?? null]);
    expect(entries).toEqual([
      ['sip:a@x', 'to', null],
      ['sip:b@x', 'to', null], // no copyControl in a list that uses it: RFC 5364's default, to
      ['sip:c@x', 'cc', null],
      ['sip:anonymous@anonymous.invalid', 'to', '2'],
      ['sip:anonymous@anonymous.invalid', 'cc', '1'],
    ]);
    expect(xml).toContain('<display-name>A &amp; &quot;B&quot;</display-name>');
    expect(xml).not.toMatch(/secret|hidden/);
  });

  it('is written beside the content as a multipart/mixed body the multipart reader takes apart again', () => {
    const xml = historyList([m('sip:a@x', 'to')])!;
    const { contentType, body } = withHistory('text/plain;charset=utf-8', Buffer.from('héllo'), xml, 'bnd1');
    const parts = parseMultipart(contentType, body)!;
    expect(parts.map((p) => p.headers.get('content-type'))).toEqual(['text/plain;charset=utf-8', 'application/resource-lists+xml']);
    expect(parts[0].body.toString()).toBe('héllo');
    expect(parts[1].headers.get('content-disposition')).toBe('recipient-list-history; handling=optional');
    expect(parts[1].body.toString()).toBe(xml);
  });
});
