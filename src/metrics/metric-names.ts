import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/**
 * The names of the app's metrics and the JSON form they travel in: a leaf that the registry
 * (metrics.ts), the JSON digest (metrics-summary.ts) and the cluster's merging
 * (cluster/cluster-metrics.ts) all read, so none of them imports another.
 */
export const METRIC = {
  requests: 'http_requests_total',
  requestDuration: 'http_request_duration_seconds',
  inFlight: 'http_requests_in_flight',
  eventLoopDelayP50: 'app_event_loop_delay_p50_seconds',
  eventLoopDelayP99: 'app_event_loop_delay_p99_seconds',
  eventLoopDelayMax: 'app_event_loop_delay_max_seconds',
  eventLoopUtilization: 'app_event_loop_utilization_ratio',
  rss: 'process_resident_memory_bytes',
  heapUsed: 'nodejs_heap_size_used_bytes',
  heapTotal: 'nodejs_heap_size_total_bytes',
  heapAfterGc: 'app_heap_after_gc_bytes',
  external: 'nodejs_external_memory_bytes',
  securityEvents: 'app_security_events_total',
  sessionChecks: 'app_session_checks_total',
  mailSent: 'mail_sent_total',
  mailFailed: 'mail_failed_total',
  mailSendErrors: 'mail_send_errors_total',
  mailOutbox: 'mail_outbox_messages',
} as const;

/** prom-client's JSON form of a registry (`registry.getMetricsAsJSON()`), plain and serialisable. */
export type MetricsJson = ReadonlyArray<MetricObjectWithValues<MetricValue<string>>>;

/**
 * What the metrics endpoints serve: this process's figures, or in a cluster worker the whole
 * machine's (see cluster/cluster-metrics.ts). The endpoints never need to know which.
 */
export interface MetricsView {
  /** The Prometheus text format. */
  prometheus(): Promise<string>;
  /** The JSON digest `/health/metrics` serves. */
  summary(): Promise<Record<string, unknown>>;
}
