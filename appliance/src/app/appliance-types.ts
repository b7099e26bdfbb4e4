import type { ListeningPorts } from '../sip/transport/transport-layer.js';
import type { MsrpPorts } from '../msrp/msrp-endpoint.js';
import type { MetricsRegistry } from '../ops/metrics-registry.js';

/** The ports the appliance listens on, as bound ("auto" resolved). */
export type AppliancePorts = ListeningPorts & { HTTP?: number; METRICS?: number } & Partial<MsrpPorts>;

/** A running appliance (main.ts `startAppliance`). */
export interface Appliance {
  ports: AppliancePorts;
  /** where features add their series to /metrics (README: Metrics) */
  metrics: MetricsRegistry;
  stop(): Promise<void>;
}
