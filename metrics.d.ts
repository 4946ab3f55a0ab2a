// Type definitions for gossiper/metrics.

/** A prom-client `Registry` (`new Registry()` from `prom-client`, an optional peer dependency). */
export interface MetricsRegistry {
  registerMetric(metric: any): void;
  removeSingleMetric(name: string): void;
}

/** The names of the metrics `register()` adds, each starting `gossiper_`. */
export type MetricName =
  | 'gossiper_peers'
  | 'gossiper_peer_phi'
  | 'gossiper_rounds_total'
  | 'gossiper_stalled_seconds_total'
  | 'gossiper_exchanges_started_total'
  | 'gossiper_catch_up_exchanges_total'
  | 'gossiper_exchanges_completed_total'
  | 'gossiper_exchanges_served_total'
  | 'gossiper_exchanges_failed_total'
  | 'gossiper_connect_failures_total'
  | 'gossiper_connections_accepted_total'
  | 'gossiper_messages_total'
  | 'gossiper_bytes_total'
  | 'gossiper_refused_connections_total'
  | 'gossiper_updates_total'
  | 'gossiper_peers_refused_total'
  | 'gossiper_tombstones_collected_total'
  | 'gossiper_events_total';

/**
 * Registers Prometheus metrics of every running Gossiper of the process on `registry` (never on
 * prom-client's global registry), read from `stats()` at each scrape and labelled with the
 * gossiper's `peer_name` (`gossiper="10.0.0.1:9000"`). Registering on the same registry again does
 * nothing. Returns the metric names. Throws `ERR_GOSSIPER_PROM_CLIENT_MISSING` without prom-client.
 */
export declare function register(registry: MetricsRegistry): MetricName[];
/** Removes the metrics `register()` added from `registry`. */
export declare function unregister(registry: MetricsRegistry): void;
/** The names of the metrics `register()` adds. */
export declare const METRIC_NAMES: readonly MetricName[];
