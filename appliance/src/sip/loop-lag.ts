import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

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
}
