import { describe, expect, it } from 'vitest';
import { Reachability } from './reachability.js';
import type { Binding } from '../../core/location-service.js';

function binding(contactUri: string, transport = 'UDP', updatedAt = 1000): Binding {
  return {
    id: 1, aor: 'sip:bob@parley.test', contact: `<${contactUri}>`, contactUri, q: 1, expiresAt: updatedAt + 3_600_000, callId: 'c', cseq: 1,
    transport, sourceAddress: '127.0.0.1', sourcePort: 5070, flowId: `${transport}:127.0.0.1:5070`, userAgent: null, updatedAt,
  };
}

describe('reachability (R4)', () => {
  const RETRY = 32_000;

  it('passes over a device that did not answer, and tries it again once every retry period until it answers', () => {
    let now = 0;
    const reach = new Reachability(() => true, RETRY, () => now);
    const phone = binding('sip:bob@127.0.0.1:5070');
    const laptop = binding('sip:bob@127.0.0.1:5071');
    expect(reach.reachable([phone, laptop])).toEqual([phone, laptop]);
    reach.unreached(phone);
    reach.answered(laptop);
    // while silent, only the other device is tried
    now += RETRY - 1;
    expect(reach.reachable([phone, laptop])).toEqual([laptop]);
    // a retry period after it was last tried, one message tries it; the ones after it do not
    now += 1;
    expect(reach.reachable([phone, laptop])).toEqual([phone, laptop]);
    expect(reach.reachable([phone, laptop])).toEqual([laptop]);
    // still no answer: silent for another period from this try
    now += 5_000;
    reach.unreached(phone);
    now += RETRY - 1;
    expect(reach.reachable([phone])).toEqual([]);
    now += 1;
    expect(reach.reachable([phone])).toEqual([phone]);
    // it answered: reachable for every message again
    reach.answered(phone);
    expect(reach.reachable([phone])).toEqual([phone]);
    expect(reach.reachable([phone])).toEqual([phone]);
  });

  it('forgets a silence when the device registers again (its binding is updated)', () => {
    const reach = new Reachability(() => true, RETRY, () => 0);
    reach.unreached(binding('sip:bob@127.0.0.1:5070'));
    expect(reach.reachable([binding('sip:bob@127.0.0.1:5070')])).toEqual([]);
    const refreshed = binding('sip:bob@127.0.0.1:5070', 'UDP', 2000);
    expect(reach.reachable([refreshed])).toEqual([refreshed]);
  });

  it('never forks to a connection-bound device whose connection is gone', () => {
    const reach = new Reachability((flowId) => flowId !== 'TCP:127.0.0.1:5070', RETRY, () => 0);
    const gone = binding('sip:bob@127.0.0.1:5070;transport=tcp', 'TCP');
    const udp = binding('sip:bob@127.0.0.1:5070');
    expect(reach.reachable([gone, udp])).toEqual([udp]);
  });
});
