import { describe, expect, it } from 'vitest';
import { ha1, expectedResponse, parseCredentials, challenge } from './digest.js';

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

describe('challenges', () => {
  it('builds a challenge that the credentials parser of RFC 7616 §3.3 reads back', () => {
    const c = parseCredentials(challenge('parley.test', 'n1', 'SHA-256', true));
    expect(c?.scheme).toBe('Digest');
    expect(Object.fromEntries(c!.params)).toEqual({ realm: 'parley.test', nonce: 'n1', algorithm: 'SHA-256', qop: 'auth', stale: 'true' });
  });
});
