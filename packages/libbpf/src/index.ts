/**
 * @bpf-sync-timer/libbpf: a thin, typed libbpf binding for Node.js.
 *
 * @example
 * import { BpfObject } from '@bpf-sync-timer/libbpf';
 * const open = BpfObject.open('probe.bpf.o');
 * open.rodata.set('target_pid', process.pid);
 * using obj = open.load();
 * obj.attachAll();
 * @packageDocumentation
 */
// The entry: every module of the package, this one's re-exports included, loads through the
// code cache (see code-cache.ts in @bpf-sync-timer/libbpf). `export *` defines one getter
// for all names, where `export { name } from` compiles one function per name.
import { useCodeCache } from './code-cache';
useCodeCache(module);

export * from './api';
