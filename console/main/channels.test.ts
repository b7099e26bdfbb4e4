import { describe, expect, it } from 'vitest';
import { CHANNELS, isAllowedChannel } from './channels.js';

describe('the channel allow-list', () => {
  it('allows our channels and nothing else', () => {
    for (const c of Object.values(CHANNELS)) expect(isAllowedChannel(c)).toBe(true);
    for (const c of ['parley:exec', 'getApplianceUrl', 'PARLEY:GET-APPLIANCE-URL', '', 'parley:get-appliance-url ', null, 42, {}]) expect(isAllowedChannel(c)).toBe(false);
  });

  it('names each channel in our own namespace, once', () => {
    const names = Object.values(CHANNELS);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^parley:[a-z-]+$/);
  });
});
