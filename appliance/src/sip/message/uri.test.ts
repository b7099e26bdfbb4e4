import { describe, expect, it } from 'vitest';
import { parseHost, parseUri } from './uri.js';

// RFC 3261 §25.1 hostname / IPv4address, as the pattern parseHost used before its hand-written loop
const HOSTNAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*\.?$/;

function accepts(host: string): boolean {
  try {
    parseHost(host);
    return true;
  } catch {
    return false;
  }
}

describe('parseHost', () => {
  it.each(['example.com', 'a', 'a.', 'EXAMPLE.com', '127.0.0.1', 'a-b.c-d', 'x1.y2.'])('accepts %s', (host) => {
    expect(accepts(host)).toBe(true);
  });

  it.each(['.', '.a', 'a..b', '-a', 'a-', 'a-.b', 'a.-b', 'a_b', 'a b', 'ä.example', 'a..', 'a.b..'])('refuses %s', (host) => {
    expect(accepts(host)).toBe(false);
  });

  it('lower-cases, and hands back an already lower-case host as it is', () => {
    expect(parseHost('Example.COM')).toBe('example.com');
    expect(parseHost('example.com')).toBe('example.com');
  });

  it('agrees with the RFC 3261 hostname pattern on random strings', () => {
    const alphabet = 'aZ9.-_';
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 20000; n++) {
      let host = '';
      const length = 1 + (next() % 7);
      for (let i = 0; i < length; i++) host += alphabet[next() % alphabet.length];
      expect(accepts(host), host).toBe(HOSTNAME.test(host));
    }
  });
});

describe('parseUri', () => {
  it.each([
    ['sip:host', { user: null, password: null, host: 'host', port: null, params: [], headers: null }],
    ['sip:alice:secret@Host:5070;transport=tcp;lr?subject=a%40b', { user: 'alice', password: 'secret', host: 'host', port: 5070, params: [{ name: 'transport', value: 'tcp' }, { name: 'lr', value: null }], headers: 'subject=a%40b' }],
    ['sip:user;par=u%40example.net@example.com', { user: 'user;par=u%40example.net', host: 'example.com', params: [] }],
    ['sips:[2001:db8::1]:5061;maddr=x', { user: null, host: '[2001:db8::1]', port: 5061, params: [{ name: 'maddr', value: 'x' }] }],
    ['sip:a@h?x=1&y=2', { user: 'a', host: 'h', params: [], headers: 'x=1&y=2' }],
  ])('reads %s', (text, want) => {
    expect(parseUri(text)).toMatchObject(want);
  });

  it.each(['sip:@host', 'sip:a@h;', 'sip:a@h;=1', 'sip:a@h;x=', 'sip:a@', 'sip:a b@h', 'sip:a@h:99999', 'sip:a@h?x=1;y'])('refuses %s', (text) => {
    expect(() => parseUri(text)).toThrow();
  });

  it('reads sip: and SIP: alike', () => {
    expect(parseUri('sip:bob@Example.test')).toMatchObject({ scheme: 'sip', user: 'bob', host: 'example.test' });
    expect(parseUri('SIP:bob@example.test')).toMatchObject({ scheme: 'sip', user: 'bob', host: 'example.test' });
  });
});
