/**
 * bpf-sync-timer/metrics: the timer's health as Prometheus (prom-client) or OpenTelemetry
 * metrics, read from the timer at scrape time. An entry of its own so that the package's
 * main entry never loads prom-client or @opentelemetry/api (both optional peers).
 * @packageDocumentation
 */
export { registerPrometheus, type PrometheusOptions, type PrometheusRegistry, type MetricsRegistration } from './prometheus';
export { registerOpenTelemetry, type OpenTelemetryOptions, type OpenTelemetryMeter, type OpenTelemetryObservable, type OpenTelemetryBatchResult } from './opentelemetry';
export type { MetricsSource } from './readings';
