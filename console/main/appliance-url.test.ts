import { describe, expect, it } from 'vitest';
import { parseApplianceUrl, sameOrigin } from './appliance-url.js';

describe('the appliance URL asked for on the first run', () => {
  it.each([
    ['http://parley.example.test:8080', 'http://parley.example.test:8080'],
    ['https://parley.example.test', 'https://parley.example.test'],
    ['  http://10.1.2.3:8080/  ', 'http://10.1.2.3:8080'],
    ['parley.example.test:8080', 'http://parley.example.test:8080'],
    ['http://[::1]:8080/console/', 'http://[::1]:8080'],
    ['HTTP://Parley.Example.Test:8080/console', 'http://parley.example.test:8080'],
  ])('takes %j as the origin %s and opens its /console/', (input, origin) => {
    expect(parseApplianceUrl(input)).toEqual({ ok: true, origin, consoleUrl: `${origin}/console/` });
  });

  it.each([
    [42, 'not text'],
    ['', 'empty'],
    ['   ', 'empty'],
    ['file:///etc/passwd', 'only http and https, not file'],
    ['javascript:alert(1)', 'not a URL'],
    ['ftp://parley.example.test', 'only http and https, not ftp'],
    ['http://admin:secret@parley.example.test', 'no user name or password in the URL'],
    ['http://parley.example.test/?next=evil', 'no query or fragment'],
    ['http://parley.example.test/#x', 'no query or fragment'],
    ['http://parley.example.test/xcap-root/', 'give the appliance address (the console is at /console)'],
    ['http://exa mple.test', 'not a URL'],
    [`http://${'a'.repeat(3000)}.test`, 'too long'],
  ])('refuses %j: %s', (input, reason) => {
    expect(parseApplianceUrl(input)).toEqual({ ok: false, reason });
  });

  it('compares origins by scheme, host and port', () => {
    expect(sameOrigin('http://parley.example.test:8080/console/users', 'http://parley.example.test:8080')).toBe(true);
    expect(sameOrigin('https://parley.example.test:8080/console/', 'http://parley.example.test:8080')).toBe(false);
    expect(sameOrigin('http://parley.example.test:8081/', 'http://parley.example.test:8080')).toBe(false);
    expect(sameOrigin('http://parley.example.test.evil.test:8080/', 'http://parley.example.test:8080')).toBe(false);
    expect(sameOrigin('not a url', 'http://parley.example.test:8080')).toBe(false);
  });
});
