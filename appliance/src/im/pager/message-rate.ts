/**
 * Messages per minute over the last hour: a ring of 60 per-minute counters (the admin console's
 * chart, later /metrics). Counting is O(1) on the MESSAGE path; a minute nobody counted in reads 0.
 */
export class MessageRate {
  private readonly counts = new Array<number>(60).fill(0);
  /** the minute (ms since the epoch / 60,000) each slot holds */
  private readonly minutes = new Array<number>(60).fill(-1);

  /** One more message in the current minute. */
  count(now = Date.now()): void {
    const minute = Math.floor(now / 60_000);
    const slot = minute % 60;
    if (this.minutes[slot] !== minute) {
      this.minutes[slot] = minute;
      this.counts[slot] = 0;
    }
    this.counts[slot]++;
  }

  /** The last 60 minutes, oldest first, the current one last. */
  lastHour(now = Date.now()): { minute: string; count: number }[] {
    const current = Math.floor(now / 60_000);
    const out: { minute: string; count: number }[] = [];
    for (let m = current - 59; m <= current; m++) {
      const slot = m % 60;
      out.push({ minute: new Date(m * 60_000).toISOString(), count: this.minutes[slot] === m ? this.counts[slot] : 0 });
    }
    return out;
  }
}
