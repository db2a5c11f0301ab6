/**
 * Metrics hooks: counters, histograms and gauges a host exports to Prometheus or OpenTelemetry.
 * The engine calls them with the fixed names of {@link MetricName} and low-cardinality labels
 * (the provider kind, an outcome code) — never addresses, subjects or other content. Calls are
 * synchronous and must not throw; an exporter that needs I/O buffers on its side.
 *
 * | name                                    | kind      | unit         | labels               |
 * | --------------------------------------- | --------- | ------------ | -------------------- |
 * | `clientmail_messages_examined_total`    | counter   | messages     | `provider`           |
 * | `clientmail_messages_filed_total`       | counter   | messages     | `provider`           |
 * | `clientmail_messages_quarantined_total` | counter   | messages     | `provider`           |
 * | `clientmail_sync_pass_duration_seconds` | histogram | seconds      | `provider`, `outcome` (`ok` or an error code) |
 * | `clientmail_queue_depth`                | gauge     | waiting jobs | none                 |
 */

/** The counters the engine increments. */
export type CounterName =
  | "clientmail_messages_examined_total"
  | "clientmail_messages_filed_total"
  | "clientmail_messages_quarantined_total";
/** The histograms the engine observes. */
export type HistogramName = "clientmail_sync_pass_duration_seconds";
/** The gauges the engine sets. */
export type GaugeName = "clientmail_queue_depth";
/** Every metric name. */
export type MetricName = CounterName | HistogramName | GaugeName;
/** Labels of one observation: low-cardinality strings only. */
export type MetricLabels = Readonly<Record<string, string>>;

/** Where the engine reports its metrics. Default: {@link noopMetrics}. */
export interface Metrics {
  /** Adds `value` (0 or more) to a counter. */
  increment(name: CounterName, value: number, labels: MetricLabels): void;
  /** Records one observation of a histogram. */
  observe(name: HistogramName, value: number, labels: MetricLabels): void;
  /** Sets a gauge to `value`. */
  gauge(name: GaugeName, value: number, labels: MetricLabels): void;
}

/** Metrics that go nowhere: the default. */
export const noopMetrics: Metrics = {
  increment: () => undefined,
  observe: () => undefined,
  gauge: () => undefined,
};
