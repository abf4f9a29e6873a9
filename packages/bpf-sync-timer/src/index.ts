/**
 * bpf-sync-timer: one shared, per-CPU, interval-aligned eBPF timer tick that any number
 * of tracing programs can subscribe to (tracing programs cannot use bpf_timer themselves).
 * @packageDocumentation
 */
// The entry: every module of the package, this one's re-exports included, loads through the
// code cache (see code-cache.ts in @bpf-sync-timer/libbpf). `export *` defines one getter
// for all names, where `export { name } from` compiles one function per name.
import { useCodeCache } from '@bpf-sync-timer/libbpf';
useCodeCache(module);

export * from './api';
