import { describe, expect, it } from 'vitest';
import { RoomNicknames, prepareNickname } from './room-nicknames.js';

describe('room nicknames (RFC 7701, RFC 8266 nickname profile)', () => {
  it('prepares: spaces mapped, trimmed and collapsed, NFKC; refuses controls, empty and overlong ones', () => {
    expect(prepareNickname('  Big\u00a0\u00a0Al  ')).toBe('Big Al');
    expect(prepareNickname('\uff21\uff4c')).toBe('Al'); // fullwidth forms (NFKC)
    expect(prepareNickname('bell\u0007')).toBeNull();
    expect(prepareNickname('tab\there')).toBeNull();
    expect(prepareNickname('   ')).toBeNull();
    expect(prepareNickname('x'.repeat(65))).toBeNull();
  });

  it('keeps a nickname unique in the room whatever its case, per user, until released', () => {
    const names = new RoomNicknames<string>();
    expect(names.reserve('alice-1', 'sip:alice@d', 'Al')).toMatchObject({ status: 200, nickname: 'Al' });
    expect(names.reserve('bob-1', 'sip:bob@d', 'AL').status).toBe(425);
    expect(names.reserve('bob-1', 'sip:bob@d', '\uff21\uff2c').status).toBe(425);
    // alice's other device may use it too
    expect(names.reserve('alice-2', 'sip:alice@d', 'al').status).toBe(200);
    names.release('alice-1');
    expect(names.reserve('bob-1', 'sip:bob@d', 'Al').status).toBe(425);
    names.release('alice-2');
    expect(names.reserve('bob-1', 'sip:bob@d', 'Al').status).toBe(200);
    // a new nickname frees the old one; an empty one gives it up
    expect(names.reserve('bob-1', 'sip:bob@d', 'Bobby').status).toBe(200);
    expect(names.reserve('alice-1', 'sip:alice@d', 'al').status).toBe(200);
    expect(names.reserve('bob-1', 'sip:bob@d', '')).toMatchObject({ status: 200, nickname: null });
    expect(names.reserve('alice-1', 'sip:alice@d', 'bobby').status).toBe(200);
  });
});
