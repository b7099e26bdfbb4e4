import { describe, expect, it } from 'vitest';
import { acceptHeader, allowsContent, allowsType, effectiveProfile, narrowAcceptTypes, normalizeContentTypes, NO_OVERRIDES, type ServiceProfile } from './service-profile.js';

const ALL: ServiceProfile = { im: true, groupChat: true, storage: true, maxMessageBytes: 1000, contentTypes: [] };
const only = (...contentTypes: string[]): ServiceProfile => ({ ...ALL, contentTypes });
const cpim = (type: string) => Buffer.from(`From: <sip:a@x>\r\nTo: <sip:b@x>\r\n\r\nContent-Type: ${type}\r\n\r\nbody`);

describe('service profile', () => {
  it('follows the defaults where a user has no override', () => {
    expect(effectiveProfile(ALL, NO_OVERRIDES)).toEqual(ALL);
    expect(effectiveProfile(ALL, { ...NO_OVERRIDES, im: false, contentTypes: ['text/plain'] })).toEqual({ ...ALL, im: false, contentTypes: ['text/plain'] });
  });

  it('matches media types against ranges with wildcards, ignoring parameters and case', () => {
    expect(allowsType(ALL, 'application/octet-stream')).toBe(true);
    const p = only('text/*', 'image/png');
    expect(allowsType(p, 'Text/Plain; charset=utf-8')).toBe(true);
    expect(allowsType(p, 'image/png')).toBe(true);
    expect(allowsType(p, 'image/jpeg')).toBe(false);
    expect(allowsType(p, 'text/*')).toBe(true);
    expect(allowsType(p, '*')).toBe(false);
    expect(allowsType(only('*'), 'video/mp4')).toBe(true);
  });

  it('judges CPIM by the content it carries, and lets notifications through', () => {
    const p = only('text/plain');
    expect(allowsContent(p, 'message/cpim', cpim('text/plain'))).toBe(true);
    expect(allowsContent(p, 'message/cpim', cpim('image/png'))).toBe(false);
    expect(allowsContent(p, 'message/cpim', cpim('message/imdn+xml'))).toBe(true);
    expect(allowsContent(p, 'message/cpim', Buffer.from('not cpim'))).toBe(false);
  });

  it('checks and normalises a list of media ranges, naming a bad one', () => {
    expect(normalizeContentTypes([' Text/Plain ', 'text/plain', 'image/*', '*'])).toEqual(['text/plain', 'image/*', '*']);
    expect(() => normalizeContentTypes(['text'])).toThrow(/'text' is not a media type/);
    expect(acceptHeader(only('text/*', '*'))).toBe('text/*, */*');
  });

  it("narrows an SDP's accept-types to what the profile allows; wildcards become the profile's types", () => {
    expect(narrowAcceptTypes(ALL, ['*'])).toEqual(['*']);
    expect(narrowAcceptTypes(only('text/plain'), ['*'])).toEqual(['text/plain']);
    expect(narrowAcceptTypes(only('text/plain', 'image/png'), ['text/*', 'message/cpim', 'application/json'])).toEqual(['text/plain', 'message/cpim']);
    expect(narrowAcceptTypes(only('text/*'), ['text/plain', 'text/*'])).toEqual(['text/plain', 'text/*']);
  });
});
