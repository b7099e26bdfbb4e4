import { describe, expect, it } from 'vitest';
import { OverloadGuard } from './overload-guard.js';
import { rawHead } from './message/raw-head.js';

let branches = 0;
const request = (method: string, extra: string[] = []) =>
  rawHead(
    Buffer.from(
      [`${method} sip:bob@parley.test SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK${branches++}`, 'From: <sip:alice@parley.test>;tag=a', 'To: <sip:bob@parley.test>', 'Call-ID: c1', `CSeq: 1 ${method}`, ...extra, 'Content-Length: 0', '', ''].join('\r\n'),
    ),
  )!;

/** A clock the test moves by hand. */
function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/**
 * `ms` of the guard's life with new work read and served at `perSecond` (what the stack counts),
 * an adjustment every 50 ms; `each` runs once per 50 ms too (e.g. a request judged, so that
 * shedding sees new work refused).
 */
function readFor(g: OverloadGuard, c: ReturnType<typeof clock>, ms: number, perSecond: number, each?: () => void): void {
  for (let t = 0; t < ms; t += 50) {
    for (let i = 0; i < (perSecond * 50) / 1000; i++) g.noteNewWork();
    c.advance(50);
    void g.shedding;
    each?.();
  }
}

/** 1,000 new requests judged (20,000/s at one call per 50 ms): far more than any rate here admits, so shedding goes on refusing. */
function flood(g: OverloadGuard): () => void {
  const fresh = request('MESSAGE');
  return () => {
    for (let i = 0; i < 1000; i++) g.judge(fresh, null);
  };
}

/**
 * A guard (entry bound 200 ms) that read new work at 10,000/s for a second and then found the
 * queue at 300 ms for 100 ms: shedding, at 5,000/s. `queue.delay` is what its probe reads next.
 */
function shedding(): { c: ReturnType<typeof clock>; g: OverloadGuard; queue: { delay: number } } {
  const c = clock();
  const queue = { delay: 0 };
  const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => queue.delay, c.now);
  readFor(g, c, 1000, 10_000);
  queue.delay = 300;
  readFor(g, c, 100, 10_000);
  return { c, g, queue };
}

describe('overload guard', () => {
  it('admits everything while the queue keeps up', () => {
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => 0);
    expect(g.shedding).toBe(false);
    expect((g.judge(request('MESSAGE'), null) === 'admit')).toBe(true);
  });

  it('starts shedding once the queue stays past maxQueueDelay, at half the rate new work was read at, and never refuses finishing work', () => {
    const c = clock();
    let delay = 0;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    // a second of new work read at 10,000/s while the queue keeps up: nothing refused
    readFor(g, c, 1000, 10_000);
    expect(g.state).toMatchObject({ admittedShare: 1, admitRate: null });
    // the queue past its bound for two adjustments: the first cut, to half of that rate
    delay = 300;
    readFor(g, c, 100, 10_000);
    expect(g.state.admitRate).toBeCloseTo(5000, -2);
    // admitted at that rate: none at once (the bucket starts empty), 50 in the next 10 ms
    expect(Array.from({ length: 1000 }, () => g.judge(request('MESSAGE'), null)).filter((v) => v === 'admit')).toHaveLength(0);
    c.advance(10);
    const admitted = Array.from({ length: 1000 }, () => g.judge(request('MESSAGE'), null)).filter((v) => v === 'admit').length;
    expect(admitted).toBeGreaterThanOrEqual(49);
    expect(admitted).toBeLessThanOrEqual(50);
    expect(g.state.refused.newWork).toBe(2000 - admitted);
    // credentials, a dialog, ACK and CANCEL always go on, and so does a REGISTER without credentials
    expect(g.judge(request('MESSAGE', ['Proxy-Authorization: Digest username="alice"']), null)).toBe('admit');
    expect(g.judge(request('ACK'), null)).toBe('admit');
    expect(g.judge(request('CANCEL'), null)).toBe('admit');
    expect(g.judge(request('REGISTER'), null)).toBe('admit');
  });

  it('refuses REGISTERs without credentials only when even the smallest rate leaves the queue past 4 × maxQueueDelay', () => {
    const c = clock();
    let delay = 500;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    readFor(g, c, 100, 10_000);
    // past 4 × maxQueueDelay, but the rate was never yet cut to its floor: REGISTERs go on
    expect(g.judge(request('REGISTER'), null)).toBe('admit');
    readFor(g, c, 20_000, 10_000, flood(g));
    // cut after cut (each waiting for the one before) down to the floor: 2% of the rate it began
    // from (7,500/s: the read rate smoothed over the two windows that started it)
    expect(g.state.admitRate).toBe(150);
    expect(g.judge(request('REGISTER'), null)).toBe('admit');
    delay = 900;
    expect(g.judge(request('REGISTER'), null)).toBe('refuse');
    expect(g.state.refused.registers).toBe(1);
  });

  it('holds the queue to 20 ms once shedding: cuts by 15% past it, grows back under it, and ends after 500 ms that refused nothing', () => {
    const { c, g, queue } = shedding();
    expect(g.state.admitRate).toBeCloseTo(5000, -1);
    // 25 ms: under the entry bound, over the one held to, and not draining: one cut of 15% once
    // the first has had time to show (twice the delay it was made at, 600 ms)
    queue.delay = 25;
    readFor(g, c, 550, 0, flood(g));
    expect(g.state.admitRate).toBeCloseTo(5000, -1);
    readFor(g, c, 50, 0, flood(g));
    expect(g.state.admitRate).toBeCloseTo(4250, -1);
    // short: grows back a third of the way to 95% of the rate this run of cuts began at (5,000/s)
    queue.delay = 5;
    readFor(g, c, 50, 0, flood(g));
    expect(g.state.admitRate).toBeCloseTo(4250 + (4750 - 4250) / 3, -1);
    // refusing nothing (no new work judged at all): shedding ends after 500 ms, whatever the delay
    queue.delay = 25;
    readFor(g, c, 400, 0);
    expect(g.shedding).toBe(true);
    readFor(g, c, 150, 0);
    expect(g.state).toMatchObject({ admittedShare: 1, admitRate: null });
    expect(g.shedding).toBe(false);
  });

  it('cuts again before the last cut has shown only far past the bound, and grows back quickly to the rate a run of cuts began at', () => {
    const { c, g, queue } = shedding();
    // grown on a short queue, past the first cut's hold (600 ms): where the next run of cuts begins
    queue.delay = 5;
    readFor(g, c, 700, 0, flood(g));
    const peak = g.state.admitRate!;
    expect(peak).toBeGreaterThan(5000);
    queue.delay = 25;
    readFor(g, c, 100, 0, flood(g));
    expect(g.state.admitRate).toBeCloseTo(0.85 * peak, -1);
    // half as much again while that cut has not shown (held 100 ms): not yet, under 4 × 20 ms …
    queue.delay = 60;
    readFor(g, c, 50, 0, flood(g));
    expect(g.state.admitRate).toBeCloseTo(0.85 * peak, -1);
    // … and once the hold is over, the next cut of the run
    readFor(g, c, 100, 0, flood(g));
    expect(g.state.admitRate).toBeCloseTo(0.85 * 0.85 * peak, -1);
    // short again: a third of the way each time to 95% of the rate the run began at, not of its last cut
    queue.delay = 5;
    const low = g.state.admitRate!;
    readFor(g, c, 50, 0, flood(g));
    expect(g.state.admitRate).toBeCloseTo(low + (0.95 * peak - low) / 3, -1);
  });

  it('starts shedding when the receive buffer is half full, whatever delay the probe has read yet', () => {
    const c = clock();
    let fill = 0;
    let delay = 40;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now, () => 0, () => 0, () => fill);
    readFor(g, c, 1000, 10_000);
    // 40 ms read by the probe, a buffer a third full, filled slowly: keeping up
    for (const f of [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.3]) {
      fill = f;
      readFor(g, c, 50, 10_000);
    }
    expect(g.state).toMatchObject({ admitRate: null, receiveBufferFill: 0.3 });
    // half full but the probe under the held bound (20 ms): a burst into a small buffer, not overload
    fill = 0.6;
    delay = 15;
    readFor(g, c, 100, 10_000);
    expect(g.state.admitRate).toBeNull();
    // half full, the probe past 20 ms: counted as twice the entry bound, so shedding starts at once, at half the rate read
    fill = 0.5;
    delay = 40;
    readFor(g, c, 50, 10_000);
    expect(g.state.admitRate).toBeCloseTo(5000, -2);
    // still half full and not emptying: cut by 30% every 100 ms, not after twice the delay (the buffer is losing datagrams)
    const start = g.state.admitRate!;
    readFor(g, c, 100, 0, flood(g));
    expect(g.state.admitRate).toBeCloseTo(0.7 * start, -1);
    readFor(g, c, 100, 0, flood(g));
    expect(g.state.admitRate).toBeCloseTo(0.49 * start, -1);
    // emptying (still half full, but under 90% of the last reading each time): the next cut waits to show
    for (const f of [0.9, 0.75, 0.62, 0.52]) {
      fill = f;
      readFor(g, c, 50, 0, flood(g));
    }
    expect(g.state.admitRate).toBeCloseTo(0.49 * start, -1);
  });

  it('starts shedding on a receive buffer a fifth full that filled fast for two windows with the event loop on time, not on one window or a pause', () => {
    const c = clock();
    let fill = 0;
    let lag = 0;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => 40, c.now, () => lag, () => 0, () => fill);
    /** one 50 ms adjustment window per fill given, the last lagging by `lastLag` ms; the rate admitted after them */
    const windows = (fills: number[], lastLag = 0): number | null => {
      fills.forEach((f, i) => {
        fill = f;
        lag = i === fills.length - 1 ? lastLag : 0;
        readFor(g, c, 50, 10_000);
      });
      return g.state.admitRate;
    };
    readFor(g, c, 1000, 10_000);
    // one window filling by a quarter, then draining: a stall, not a flood
    expect(windows([0.25, 0.2])).toBeNull();
    // two windows filling by a tenth each, but the loop 60 ms late in the second: a pause (a major collection)
    expect(windows([0.3, 0.4], 60)).toBeNull();
    // filling by a tenth, window after window, under a fifth full: not yet
    expect(windows([0, 0, 0.09, 0.18])).toBeNull();
    // ... and past a fifth full, the loop on time: shedding starts at once, at half the rate read
    expect(windows([0.27])).toBeCloseTo(5000, -2);
  });

  it('after a quiet spell, one look ends shedding (the 500 ms are time, not adjustments)', () => {
    const c = clock();
    let delay = 300;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    readFor(g, c, 100, 10_000);
    expect(g.shedding).toBe(true);
    delay = 0;
    c.advance(60_000);
    expect(g.state.admitRate).toBeNull();
    expect(g.shedWithin(0)).toBe(false);
  });

  it('grows the rate back faster the longer the event loop sat idle (a core left idle while refusing is goodput lost)', () => {
    const grownBy = (idle: number) => {
      const c = clock();
      let delay = 300;
      const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now, () => 0, () => idle);
      readFor(g, c, 100, 10_000);
      delay = 0;
      // far more new work judged than admitted (100,000/s): past the rate of the last cut, where
      // only the step by idleness is left
      const flood = () => {
        for (let i = 0; i < 5000; i++) g.judge(request('MESSAGE'), null);
      };
      readFor(g, c, 600, 0, flood);
      const before = g.state.admitRate!;
      readFor(g, c, 50, 0, flood);
      return g.state.admitRate! / before - 1;
    };
    expect(grownBy(0)).toBeCloseTo(0.02, 3);
    expect(grownBy(0.4)).toBeCloseTo(0.2, 3);
  });

  it('says whether it refused new work lately (an answer missing then may have been lost in our queue)', () => {
    const c = clock();
    let delay = 0;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    void g.shedding;
    expect(g.shedWithin(8000)).toBe(false);
    delay = 500;
    for (let i = 0; i < 4; i++) {
      c.advance(50);
      void g.shedding;
    }
    expect(g.state.admittedShare).toBeLessThan(1);
    expect(g.shedWithin(0)).toBe(true);
    delay = 0;
    let shedding = true;
    for (let i = 0; i < 40 && shedding; i++) {
      c.advance(50);
      shedding = g.shedding;
    }
    expect(shedding).toBe(false);
    // shedding lasted until the calm began, 500 ms before the adjustment that ended it
    c.advance(7_500);
    expect(g.shedWithin(8000)).toBe(true);
    c.advance(1);
    expect(g.shedWithin(8000)).toBe(false);
  });

  it('ignores one slow sample (a pause is not overload)', () => {
    const c = clock();
    let delay = 0;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    c.advance(50);
    delay = 900;
    void g.shedding;
    delay = 0;
    c.advance(50);
    expect(g.shedding).toBe(false);
  });

  it('drops new work that waited past T1 unanswered (its retransmission is queued), never finishing work', () => {
    let delay = 100;
    const c = clock();
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    expect(g.judge(request('MESSAGE'), 'b1')).toBe('admit');
    // the queue past its bound and past T1 for two adjustments (100 ms): the guard sheds
    delay = 600;
    c.advance(50);
    void g.shedding;
    c.advance(50);
    expect(g.shedding).toBe(true);
    expect(g.judge(request('MESSAGE'), 'b2')).toBe('drop');
    expect(g.judge(request('SUBSCRIBE'), 'b3')).toBe('drop');
    for (const finishing of [request('MESSAGE', ['Proxy-Authorization: Digest username="alice"']), request('ACK'), request('CANCEL'), request('REGISTER')]) {
      expect(g.judge(finishing, 'b4')).not.toBe('drop');
    }
    expect(g.state.refused.dropped).toBe(2);
  });

  it('cuts the first time deeper the further the queue is over its bound', () => {
    const c = clock();
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => 1000, c.now);
    readFor(g, c, 100, 10_000);
    // 10,000/s read over the two windows (smoothed from nothing: 7,500/s), a fifth of it at five times the bound
    expect(g.state.admitRate).toBeCloseTo(1500, -1);
  });

  it('waits for a cut to show before cutting again, and does not cut a queue that is draining', () => {
    const c = clock();
    let delay = 400;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    readFor(g, c, 100, 10_000);
    const first = g.state.admitRate!;
    // the backlog from before the cut drains, by 12% each 50 ms, for longer than the wait after
    // the cut (800 ms): over the held bound all along, but falling
    for (let i = 0; i < 20; i++) {
      delay *= 0.88;
      readFor(g, c, 50, 0, flood(g));
    }
    expect(delay).toBeGreaterThan(20);
    expect(g.state.admitRate).toBe(first);
    // over the bound and no longer falling: cut again
    readFor(g, c, 100, 0, flood(g));
    expect(g.state.admitRate).toBeLessThan(first);
  });

  it('cuts again at once when the queue keeps growing after a cut', () => {
    const c = clock();
    let delay = 300;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    readFor(g, c, 100, 10_000);
    const first = g.state.admitRate!;
    delay = 500;
    readFor(g, c, 50, 0);
    expect(g.state.admitRate).toBeLessThan(first);
  });

  /** A guard cut down to a small rate by a queue that stays slow (4 s of it). */
  function overloaded() {
    const c = clock();
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => 300, c.now);
    for (let i = 0; i < 80; i++) {
      c.advance(50);
      void g.shedding;
    }
    return g;
  }

  it('admits credentials for a nonce we issued within 64·T1 (the second half of a call), and treats any other credentials as new work', () => {
    const g = overloaded();
    const asked: [string, number][] = [];
    g.nonceIssuedWithin = (nonce, withinMs) => (asked.push([nonce, withinMs]), nonce === 'ours-recent');
    const withNonce = (nonce: string) => request('MESSAGE', [`Proxy-Authorization: Digest username="alice", nonce="${nonce}", cnonce="x"`]);
    expect(Array.from({ length: 200 }, () => g.judge(withNonce('ours-recent'), null)).every((v) => v === 'admit')).toBe(true);
    expect(asked[0]).toEqual(['ours-recent', 64 * 500]);
    // a made-up or long-cached nonce, or credentials without one, get no free pass through a flood
    for (const head of [withNonce('forged'), request('MESSAGE', ['Proxy-Authorization: Digest username="alice"'])]) {
      const verdicts = Array.from({ length: 1000 }, () => g.judge(head, null));
      expect(verdicts.filter((v) => v === 'admit').length).toBeLessThan(100);
    }
    // finishing work needs no nonce: inside a dialog, ACK, CANCEL; a REGISTER with any credentials is a REGISTER
    expect(g.judge(request('ACK'), null)).toBe('admit');
    expect(g.judge(request('CANCEL'), null)).toBe('admit');
    expect(g.judge(rawHead(Buffer.from('BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\n\r\n'))!, null)).toBe('admit');
    expect(g.judge(request('REGISTER', ['Authorization: Digest username="alice", nonce="forged"']), null)).toBe('admit');
  });

  it('without a nonce check (no authenticator), any credentials count as finishing work', () => {
    const g = overloaded();
    expect(Array.from({ length: 200 }, () => g.judge(request('MESSAGE', ['Proxy-Authorization: Digest nonce="whatever"']), null)).every((v) => v === 'admit')).toBe(true);
  });

  it('judges new work: refused by rate, dropped unanswered once stale, never asked about while not shedding', () => {
    let delay = 300;
    const c = clock();
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    g.nonceIssuedWithin = () => {
      throw new Error('not asked while everything is admitted');
    };
    expect(g.judge(request('MESSAGE', ['Proxy-Authorization: Digest nonce="n"']), null)).toBe('admit');
    for (let i = 0; i < 80; i++) {
      c.advance(50);
      void g.shedding;
    }
    const verdicts = Array.from({ length: 1000 }, () => g.judge(request('MESSAGE'), null));
    expect(verdicts.filter((v) => v === 'refuse').length).toBeGreaterThan(900);
    expect(verdicts).not.toContain('drop');
    delay = 600; // past T1: its client has retransmitted it already
    expect(g.judge(request('MESSAGE'), 'b1')).toBe('drop');
    expect(g.judge(request('REGISTER'), 'b2')).toBe('admit');
    expect(g.state.refused.dropped).toBe(1);
  });

  it('watches the event loop too: a loop that stays late starts shedding while the UDP queue is empty, and stops once it keeps time', () => {
    const c = clock();
    let lag = 0;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => 0, c.now, () => lag);
    c.advance(50);
    expect(g.shedding).toBe(false);
    lag = 400; // work over TCP holding the loop (the UDP probe sees nothing)
    readFor(g, c, 100, 1000);
    // half the rate new work was read at (1,000/s, smoothed from nothing over two windows: 750/s)
    expect(g.state).toMatchObject({ loopLagMs: 400, queueDelayMs: 0, admitRate: 375 });
    lag = 0;
    readFor(g, c, 1000, 0);
    expect(g.state.admitRate).toBeNull();
  });

  it('drops a stale request once: the copy behind it is answered, so the client stops retransmitting', () => {
    const c = clock();
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => 900, c.now);
    for (let i = 0; i < 80; i++) {
      c.advance(50);
      void g.shedding;
    }
    const first = request('MESSAGE');
    expect(g.judge(first, 'z9hG4bKcall1')).toBe('drop');
    // its retransmissions (same branch) while the queue is still past T1: answered (503 or served), never dropped again
    for (const after of [500, 1000, 2000, 3000]) {
      c.advance(after);
      expect(g.judge(first, 'z9hG4bKcall1')).not.toBe('drop');
    }
    // another request is dropped once too; one whose branch cannot be read is never dropped
    expect(g.judge(request('MESSAGE'), 'z9hG4bKcall2')).toBe('drop');
    expect(g.judge(request('MESSAGE'), null)).not.toBe('drop');
    expect(g.state.refused.dropped).toBe(2);
  });
});

describe('overload guard with the native socket holding new work (udp-gate)', () => {
  /** A gate that records the holds it is told of and reports counts as the socket would. */
  function fakeGate() {
    const holds: [number, number][] = [];
    const pending = [0, 0, 0, 0, -1, -1];
    const gate = {
      defer: (maxWaitMs: number, budgetMs: number) => void holds.push([maxWaitMs, budgetMs]),
      drain: (out: Float64Array) => {
        out.set(pending);
        pending.fill(0, 0, 4);
      },
      configure: () => undefined,
      /** what the socket judged on its own since the last drain */
      judged: (admitted: number, refused: number) => {
        pending[0] += admitted + refused;
        pending[1] += admitted;
        pending[2] += refused;
      },
      /** the challenges owed and the most that may be, as the socket reads them now (-1: not bounded) */
      owes: (owed: number, limit: number) => {
        pending[4] = owed;
        pending[5] = limit;
      },
    };
    return { gate, holds };
  }

  it('has the socket hold new work for as long as the queue may delay it, and shows its refusals as shedding', async () => {
    const c = clock();
    const queue = { delay: 0 };
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => queue.delay, c.now);
    const { gate, holds } = fakeGate();
    g.useGate(gate);
    try {
      expect(holds).toEqual([[200, 4]]);
      // the socket admits all it read: nothing shows as shed
      gate.judged(500, 0);
      c.advance(50);
      expect(g.state.admittedShare).toBe(1);
      expect(g.state.admitRate).toBeNull();
      expect(g.shedWithin(1000)).toBe(false);
      // it refuses what waited too long: /health's counts and share say so, and so does shedWithin
      gate.judged(100, 900);
      c.advance(50);
      const state = g.state;
      expect(state.refused.newWork).toBe(900);
      expect(state.admittedShare).toBeCloseTo(0.1, 3);
      expect(state.admitRate).toBe(2000);
      expect(g.shedWithin(0)).toBe(true);
      // the challenges owed, as the socket read them when last asked (null while it does not bound them)
      expect(state.challengesOwed).toBeNull();
      gate.owes(300, 512.4);
      expect(g.state.challengesOwed).toEqual({ owed: 300, limit: 512 });
      gate.owes(-1, -1);
      expect(g.state.challengesOwed).toBeNull();
      // the queue itself long (work over TCP, a stalled loop): what is judged here is held to the guard's own rate
      queue.delay = 300;
      readFor(g, c, 100, 10_000);
      expect(g.shedding).toBe(true);
      const fresh = request('MESSAGE');
      // its bucket starts empty, and fills at its rate (10/s at the least)
      expect(g.judge(fresh, null)).toBe('refuse');
      c.advance(200);
      expect(g.judge(fresh, null)).toBe('admit');
      // the socket admitting all again and the queue short: shedding ends, and /health says 1
      queue.delay = 0;
      for (let i = 0; i < 14; i++) {
        gate.judged(50, 0);
        c.advance(50);
        void g.shedding;
      }
      expect(g.shedding).toBe(false);
      expect(g.state.admittedShare).toBe(1);
      expect(g.shedWithin(100)).toBe(false);
    } finally {
      g.stop();
    }
  });

  it("keeps the socket's refusals out of its own rate, and shows the socket's figures when its own rate reaches nothing", async () => {
    const c = clock();
    const queue = { delay: 300 };
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => queue.delay, c.now);
    const { gate } = fakeGate();
    g.useGate(gate);
    try {
      // its own rate set (the queue long), nothing judged here, the socket refusing 90%
      readFor(g, c, 100, 10_000);
      expect(g.shedding).toBe(true);
      queue.delay = 0;
      gate.judged(100, 900);
      c.advance(50);
      expect(g.state).toMatchObject({ admittedShare: 0.1, admitRate: 2000 });
      // the socket refusing does not keep the guard's own rate in force: nothing refused here for 500 ms ends it
      for (let i = 0; i < 12; i++) {
        gate.judged(100, 900);
        c.advance(50);
        void g.shedding;
      }
      expect(g.shedding).toBe(false);
      // and "were we shedding" still hears of the socket's refusals of the last window
      expect(g.shedWithin(0)).toBe(true);
      expect(g.state).toMatchObject({ admittedShare: 0.1, admitRate: 2000 });
      gate.judged(50, 0);
      c.advance(50);
      expect(g.state).toMatchObject({ admittedShare: 1, admitRate: null });
      expect(g.shedWithin(100)).toBe(true);
      c.advance(200);
      void g.shedding;
      expect(g.shedWithin(100)).toBe(false);
    } finally {
      g.stop();
    }
  });
});
