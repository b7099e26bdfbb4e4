import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../support/appliance.js';

/**
 * The series the appliance exposes (README: Metrics; test/blackbox/metrics.test.ts sees each of
 * them move on a live scrape): the dashboard queries these and only these.
 */
const EXPOSED = [
  'parley_registrations',
  'parley_deferred_queue_depth',
  'parley_sip_transactions_total',
  'parley_messages_total',
  'parley_xcap_operations_total',
  'parley_store_write_seconds_bucket',
  'parley_subscriptions',
  'parley_one_to_one_sessions',
  'parley_msrp_sessions',
  'parley_rooms',
  'parley_room_participants',
  'parley_msrp_messages_total',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
];

describe('Grafana dashboard (installers/grafana)', () => {
  it('is importable JSON whose queries name only series /metrics exposes, and each of them', () => {
    const dash = JSON.parse(readFileSync(path.join(ROOT, 'installers/grafana/parley-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(8);
    const named = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:parley|nodejs|process)_[a-z0-9_]+)\b/g)].map((m) => m[1])));
    for (const n of named) expect(EXPOSED, n).toContain(n);
    for (const n of EXPOSED) expect(named, `a panel for ${n}`).toContain(n);
  });
});
