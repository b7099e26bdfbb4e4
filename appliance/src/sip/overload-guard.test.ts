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

/** `ms` of the guard's life, an adjustment every 50 ms (it adjusts when asked whether it sheds). */
function adjustFor(g: OverloadGuard, c: ReturnType<typeof clock>, ms: number): void {
  for (let t = 0; t < ms; t += 50) {
    c.advance(50);
    void g.shedding;
  }
}

describe('overload guard', () => {
  it('admits everything while the queue keeps up', () => {
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => 0);
    expect(g.shedding).toBe(false);
    expect((g.judge(request('MESSAGE'), null) === 'admit')).toBe(true);
  });

  it('cuts the share of new work while the queue stays slow, and never refuses finishing work', () => {
    const c = clock();
    let delay = 500;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    // 4 s of a queue that stays slow: a cut every 500 ms (each waits for the one before to show)
    for (let i = 0; i < 80; i++) {
      c.advance(50);
      void g.shedding;
    }
    expect(g.state.admittedShare).toBeLessThan(0.05);
    const fresh = Array.from({ length: 1000 }, () => (g.judge(request('MESSAGE'), null) === 'admit'));
    expect(fresh.filter(Boolean).length).toBeLessThan(100);
    // credentials, a dialog, ACK and CANCEL always go on; a REGISTER without credentials is refused only when even the smallest share does not help
    expect((g.judge(request('MESSAGE', ['Proxy-Authorization: Digest username="alice"']), null) === 'admit')).toBe(true);
    expect((g.judge(request('ACK'), null) === 'admit')).toBe(true);
    expect((g.judge(request('CANCEL'), null) === 'admit')).toBe(true);
    expect((g.judge(request('REGISTER'), null) === 'admit')).toBe(true);
    delay = 900; // over 4 × maxQueueDelay with the smallest share
    expect((g.judge(request('REGISTER'), null) === 'admit')).toBe(false);
    // the queue empties: the share grows back
    delay = 0;
    for (let i = 0; i < 40; i++) {
      c.advance(50);
      void g.shedding;
    }
    expect(g.state.admittedShare).toBe(1);
  });

  it('starts shedding past maxQueueDelay, then holds the queue to half of it, and grows back under that', () => {
    const c = clock();
    let delay = 150;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    const run = (ms: number) => adjustFor(g, c, ms);
    // under the entry bound, however long: nothing refused
    run(2000);
    expect(g.state.admittedShare).toBe(1);
    // past it for two adjustments: the first cut
    delay = 300;
    run(100);
    const first = g.state.admittedShare;
    expect(first).toBeLessThan(1);
    // shedding now, the same 150 ms is too slow (over half the bound): cut again, not grown back
    delay = 150;
    run(1000);
    expect(g.state.admittedShare).toBeLessThan(first);
    // under half the bound it grows back, slowly near it, so shedding ends: no band where it stays
    delay = 90;
    const held = g.state.admittedShare;
    run(200);
    expect(g.state.admittedShare).toBeGreaterThan(held);
    run(10_000);
    expect(g.state.admittedShare).toBe(1);
    // and at the process's own pace (under the entry bound) nothing is refused again
    delay = 150;
    run(2000);
    expect(g.state.admittedShare).toBe(1);
  });

  it('holds a small bound as it is once shedding: a few ms of noise neither cuts again nor keeps the share from growing back', () => {
    const c = clock();
    let delay = 0;
    const g = new OverloadGuard({ maxQueueDelay: 5, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    const run = (ms: number) => adjustFor(g, c, ms);
    delay = 50;
    run(100);
    const cut = g.state.admittedShare;
    expect(cut).toBeLessThan(1);
    // 4 ms, under the 5 ms bound (a busy machine's scavenges and timers): grows back, is not cut
    delay = 4;
    run(200);
    expect(g.state.admittedShare).toBeGreaterThan(cut);
    run(10_000);
    expect(g.state.admittedShare).toBe(1);
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
    // shedding lasted until the adjustment that ended it
    c.advance(8_000);
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

  it('cuts deeper the further the queue is over its bound', () => {
    const c = clock();
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => 1000, c.now);
    for (let i = 0; i < 2; i++) {
      c.advance(50);
      void g.shedding;
    }
    // one cut at five times the bound keeps a fifth, where a fixed step would keep four fifths
    expect(g.state.admittedShare).toBeCloseTo(0.2, 3);
  });

  it('waits for a cut to show before cutting again: a queue that drains after one cut keeps the share that did it', () => {
    const c = clock();
    let delay = 400;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    for (let i = 0; i < 2; i++) {
      c.advance(50);
      void g.shedding;
    }
    expect(g.state.admittedShare).toBeCloseTo(0.5, 3);
    // the backlog from before the cut drains over the next ~400 ms: the delay falls but is still over the bound
    for (const d of [380, 350, 320, 290, 260, 230, 210]) {
      delay = d;
      c.advance(50);
      void g.shedding;
    }
    expect(g.state.admittedShare).toBeCloseTo(0.5, 3);
    // still over the bound after the wait: cut again
    c.advance(100);
    void g.shedding;
    expect(g.state.admittedShare).toBeLessThan(0.5);
  });

  it('cuts again at once when the queue keeps growing after a cut', () => {
    const c = clock();
    let delay = 300;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => delay, c.now);
    for (let i = 0; i < 2; i++) {
      c.advance(50);
      void g.shedding;
    }
    const first = g.state.admittedShare;
    delay = 500;
    c.advance(50);
    void g.shedding;
    expect(g.state.admittedShare).toBeLessThan(first);
  });

  /** A guard held at its smallest share by a queue that stays slow (4 s of it). */
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

  it('judges new work: refused by share, dropped unanswered once stale, never asked about while not shedding', () => {
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

  it('watches the event loop too: a loop that stays late cuts the share while the UDP queue is empty', () => {
    const c = clock();
    let lag = 0;
    const g = new OverloadGuard({ maxQueueDelay: 200, retryAfter: 5, staleAfter: 500 }, () => 0, c.now, () => lag);
    c.advance(50);
    expect(g.shedding).toBe(false);
    lag = 400; // work over TCP holding the loop (the UDP probe sees nothing)
    for (let i = 0; i < 2; i++) {
      c.advance(50);
      void g.shedding;
    }
    expect(g.state).toMatchObject({ admittedShare: 0.5, loopLagMs: 400, queueDelayMs: 0 });
    lag = 0;
    for (let i = 0; i < 10; i++) {
      c.advance(50);
      void g.shedding;
    }
    expect(g.state.admittedShare).toBe(1);
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
