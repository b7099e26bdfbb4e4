import client from 'prom-client';

/** Names a series: lower-case words joined by `_`, prefixed with `parley_` here. */
export interface SeriesSpec<L extends string> {
  /** without the `parley_` prefix (and, for a counter, without `_total`: OpenMetrics adds it) */
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/**
 * The appliance's metrics: one prom-client registry in OpenMetrics text, with Node's process
 * metrics (CPU, memory, file descriptors, GC, event-loop lag) collected by prom-client itself.
 *
 * Feature modules add their own series here instead of editing a central list: a module is
 * handed the registry (or a narrow hook wired in main.ts) and calls `counter`, `gauge` or
 * `histogram` once at start-up. README: Metrics tells how.
 *
 * @example
 * const rooms = metrics.gauge({ name: 'chat_rooms', help: 'Chat rooms open now', collect: () => chat.size });
 * const joins = metrics.counter({ name: 'chat_joins', help: 'Room joins', labelNames: ['result'] });
 * joins.inc({ result: 'ok' });
 */
export class MetricsRegistry {
  readonly registry = new client.Registry<client.OpenMetricsContentType>();

  constructor() {
    // the typings lack the constructor's content-type argument; this is the same thing
    this.registry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE);
    client.collectDefaultMetrics({ register: this.registry });
  }

  /**
   * A count that only goes up (exposed as `parley_<name>_total`). A count of something on every
   * message's path is cheaper tallied in plain numbers and added in `collect` at each scrape:
   * prom-client's `inc` hashes the label set and looks it up by that string on every call.
   */
  counter<L extends string>(spec: SeriesSpec<L> & { collect?: (counter: client.Counter<L>) => void }): client.Counter<L> {
    const flush = spec.collect;
    return new client.Counter<L>({
      name: `parley_${spec.name}`,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [this.registry],
      // with `collect`: called before each scrape, to add what the module tallied in plain numbers
      collect: flush === undefined ? undefined : function (this: client.Counter<L>) {
        flush(this);
      },
    });
  }

  /**
   * A value that goes up and down. With `collect`, it is read at each scrape (the cheapest way
   * to expose a size the module already keeps): return a number, or a number per label set.
   */
  gauge<L extends string>(spec: SeriesSpec<L> & { collect?: () => number | [Partial<Record<L, string>>, number][] }): client.Gauge<L> {
    const read = spec.collect;
    return new client.Gauge<L>({
      name: `parley_${spec.name}`,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [this.registry],
      collect:
        read === undefined
          ? undefined
          : function (this: client.Gauge<L>) {
              const v = read();
              if (typeof v === 'number') {
                this.set(v);
                return;
              }
              this.reset();
              for (const [labels, n] of v) this.set(labels as client.LabelValues<L>, n);
            },
    });
  }

  /** A distribution (durations in seconds, sizes in bytes). */
  histogram<L extends string>(spec: SeriesSpec<L> & { buckets: number[] }): client.Histogram<L> {
    return new client.Histogram<L>({ name: `parley_${spec.name}`, help: spec.help, labelNames: spec.labelNames ?? [], buckets: spec.buckets, registers: [this.registry] });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition, ending in `# EOF` (OpenMetrics 1.0). */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
