/** RFC 3261 §17.1.1.1 base timers, in milliseconds (Table 4). */
export interface TimerValues {
  T1: number;
  T2: number;
  T4: number;
}

export const DEFAULT_TIMERS: TimerValues = { T1: 500, T2: 4000, T4: 5000 };

/** A set of running timers a transaction cancels together when it ends. */
export class TimerSet {
  private readonly handles = new Map<string, NodeJS.Timeout>();

  start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    const h = setTimeout(() => {
      this.handles.delete(name);
      fn();
    }, ms);
    h.unref?.();
    this.handles.set(name, h);
  }

  stop(name: string): void {
    const h = this.handles.get(name);
    if (h !== undefined) {
      clearTimeout(h);
      this.handles.delete(name);
    }
  }

  clear(): void {
    for (const h of this.handles.values()) clearTimeout(h);
    this.handles.clear();
  }
}
