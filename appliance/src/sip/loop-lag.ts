import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';

/**
 * The event loop's lag, for overload control: how late a timer that should fire every 10 ms was,
 * at worst, over a window. Each read closes the window and starts the next, so the caller reads
 * it once per adjustment. Work arriving over TCP, TLS or WebSocket that holds the loop shows
 * here; a UDP flood does not (it waits in the socket's queue, which the transport's probe measures).
 */
/** ms between the histogram's timer ticks; Node records each tick's whole interval, this included */
const RESOLUTION = 10;

export class LoopLag {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION });
  private utilization: EventLoopUtilization = performance.eventLoopUtilization();

  start(): void {
    this.histogram.enable();
  }

  stop(): void {
    this.histogram.disable();
  }

  /** ms the loop was late at most since the previous read (0 before start). */
  read(): number {
    const h = this.histogram;
    const worst = h.count > 0 ? Math.max(0, h.max / 1e6 - RESOLUTION) : 0;
    h.reset();
    return worst;
  }

  /**
   * The share of the time since the previous call that the loop sat waiting for events (0–1): the
   * core this process could still use. Each call starts a new window.
   */
  idle(): number {
    const now = performance.eventLoopUtilization();
    const { idle, active } = performance.eventLoopUtilization(now, this.utilization);
    this.utilization = now;
    return idle + active > 0 ? idle / (idle + active) : 0;
  }
}
