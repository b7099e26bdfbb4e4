import { describe, expect, it } from 'vitest';
import { createHmac, randomBytes } from 'node:crypto';
import { ha1, expectedResponse, parseCredentials, NonceFactory, challenge } from './digest.js';

// RFC 7616 §3.9.1: the same exchange computed with MD5 and with SHA-256 (the algorithm RFC 8760 brings to SIP)
const V = {
  username: 'Mufasa',
  realm: 'http-auth@example.org',
  password: 'Circle of Life',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  nc: '00000001',
  uri: '/dir/index.html',
};

describe('digest computation', () => {
  it('matches the RFC 7616 MD5 example', () => {
    const h = ha1('MD5', V.username, V.realm, V.password);
    expect(expectedResponse('MD5', h, 'GET', V.uri, V.nonce, { nc: V.nc, cnonce: V.cnonce })).toBe('8ca523f5e9506fed4657c9700eebdbec');
  });

  it('matches the RFC 7616 SHA-256 example', () => {
    const h = ha1('SHA-256', V.username, V.realm, V.password);
    expect(expectedResponse('SHA-256', h, 'GET', V.uri, V.nonce, { nc: V.nc, cnonce: V.cnonce })).toBe(
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });

  it('matches the RFC 2617 §3.5 example (MD5, qop=auth)', () => {
    const h = ha1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life');
    const r = expectedResponse('MD5', h, 'GET', '/dir/index.html', 'dcd98b7102dd2f0e8b11d0f600bfb0c093', { nc: '00000001', cnonce: '0a4f113b' });
    expect(r).toBe('6629fae49393a05397450978507c4ef1');
  });

  it('matches the RFC 2069 §2.4 example (no qop, the form RFC 3261 §22.4 keeps for old clients)', () => {
    const h = ha1('MD5', 'Mufasa', 'testrealm@host.com', 'CircleOfLife');
    expect(expectedResponse('MD5', h, 'GET', '/dir/index.html', 'dcd98b7102dd2f0e8b11d0f600bfb0c093', null)).toBe('1949323746fe6a43ef61f9606e7febea');
  });
});

describe('credentials parsing', () => {
  it('reads quoted and token parameters, case-insensitive names', () => {
    const c = parseCredentials('Digest username="bob", Realm="biloxi.com", nonce="n,1", uri="sip:biloxi.com", response="abc", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="x"');
    expect(c?.scheme).toBe('Digest');
    expect(c?.params.get('realm')).toBe('biloxi.com');
    expect(c?.params.get('nonce')).toBe('n,1');
    expect(c?.params.get('algorithm')).toBe('SHA-256');
    expect(c?.params.get('qop')).toBe('auth');
  });

  it('returns null for garbage and keeps other schemes recognisable (RFC 4475 regaut01)', () => {
    expect(parseCredentials('Digest username=')).toBeNull();
    expect(parseCredentials('NoOneKnowsThisScheme opaque-data=here')?.scheme).toBe('NoOneKnowsThisScheme');
  });
});

describe('stateless nonces', () => {
  it('accepts its own fresh nonce, calls an old one stale and a forged one bad', () => {
    const f = new NonceFactory(300);
    const now = Date.now();
    const n = f.create(now);
    expect(f.check(n, now + 1000)).toBe('ok');
    expect(f.check(n, now + 301_000)).toBe('stale');
    expect(f.check(n.slice(0, -1) + (n.endsWith('A') ? 'B' : 'A'), now)).toBe('bad');
    expect(new NonceFactory(300).check(n, now)).toBe('bad');
    expect(f.check('garbage', now)).toBe('bad');
  });

  it('answers a nonce checked twice in a row (overload control, then the authenticator) alike, and a forged one after it bad', () => {
    const f = new NonceFactory(300);
    const now = Date.now();
    const n = f.create(now);
    const forged = n.slice(0, -1) + (n.endsWith('A') ? 'B' : 'A');
    expect(f.issuedAt(n)).toBe(Math.floor(now / 1000) * 1000);
    expect(f.issuedAt(n)).toBe(Math.floor(now / 1000) * 1000);
    expect(f.issuedAt(forged)).toBeNull();
    expect(f.issuedAt(forged)).toBeNull();
    expect(f.issuedAt(n)).toBe(Math.floor(now / 1000) * 1000);
  });

  it('knows a nonce it issued lately without its MAC, and by its MAC once checked or pushed out by newer ones', () => {
    const f = new NonceFactory(300);
    const now = Date.now();
    const first = f.create(now);
    const many = Array.from({ length: 5000 }, () => f.create(now));
    const at = Math.floor(now / 1000) * 1000;
    expect(f.issuedAt(first)).toBe(at); // out of the recent list: its MAC says it is ours
    expect(f.issuedAt(many[4999])).toBe(at); // recent
    expect(f.issuedAt(many[0])).toBe(at);
    expect(f.issuedAt(many[4999])).toBe(at); // again, after its first check
    const forged = many[10].slice(0, -1) + (many[10].endsWith('A') ? 'B' : 'A');
    expect(f.issuedAt(forged)).toBeNull();
    expect(f.check(many[20], now + 301_000)).toBe('stale');
  });

  it('signs with HMAC-SHA256 (RFC 2104) under its secret, whatever the secret\'s length', () => {
    for (const secret of [randomBytes(32), randomBytes(100), Buffer.from('short')]) {
      const n = new NonceFactory(300, secret).create();
      const payload = n.slice(0, n.lastIndexOf('.'));
      expect(n.slice(n.lastIndexOf('.') + 1)).toBe(createHmac('sha256', secret).update(payload).digest('base64url').slice(0, 22));
    }
  });

  it('calls a nonce with characters outside printable ASCII, or a very long one, bad', () => {
    const f = new NonceFactory(300);
    const n = f.create();
    expect(f.check(n.replace('.', '\u012e'))).toBe('bad');
    expect(f.check(`${'a'.repeat(5000)}.${n}`)).toBe('bad');
  });

  it('builds a challenge that the credentials parser of RFC 7616 §3.3 reads back', () => {
    const c = parseCredentials(challenge('parley.test', 'n1', 'SHA-256', true));
    expect(c?.scheme).toBe('Digest');
    expect(Object.fromEntries(c!.params)).toEqual({ realm: 'parley.test', nonce: 'n1', algorithm: 'SHA-256', qop: 'auth', stale: 'true' });
  });
});
