// The public API, by name: index.ts loads this module (and, through it, the rest of the
// package) through the code cache, and re-exports all of it.
import * as path from 'node:path';
import { BpfError } from './errors';
import { native } from './native';

export { BpfError, BatchError, BpfArgumentError, ClosedError, UnsupportedFeatureError, VerifierError, errnoName, hintFor, summarizeVerifierLog } from './errors';
export { BpfObject, OpenBpfObject, type OpenOptions } from './object';
export { BpfMap, OpenMap, type MapBytes } from './map';
export { BatchCursor, MapBatch, BATCH_MIN_KERNEL, type BatchReadOptions, type BatchWriteOptions } from './map-batch';
export { MappedArray, BPF_F_MMAPABLE, MMAPABLE_MIN_KERNEL } from './mapped-array';
export { DEFAULT_CLOCK_STEP_NS, GridRunner, GRID_RUN_CTX_SIZE, GRID_RUN_REALTIME, type GridRunnerOptions, type GridRunnerStats } from './grid-runner';
export { BpfProgram, OpenProgram, runOnCpus, checkCpuRuns, type CpuRunResult, type RunOnCpusOptions, type TestRunOptions, type TestRunResult } from './program';
export { BpfLink } from './link';
export { GlobalSection, type GlobalValue, type GlobalVar } from './globals';
export { RingBuffer, RING_BATCH_MAX, type RingBatchCallback, type RingBufferOptions, type RingSpanCallback } from './ring-buffer';
export { PerfBuffer, type PerfRecord, type PerfBufferOptions } from './perf-buffer';
export { possibleCpus, onlineCpus, allowedCpus, numPossibleCpus, parseCpuList, formatCpuList } from './cpu';
export { setLogger, defaultLogger, type Logger, type LogLevel } from './log';
export { MapType, ProgramType, UpdateFlags, mapTypeName, programTypeName } from './constants';
export { ensureTracefs, tracefsMounted } from './tracefs';
export { perfEventOpen, dupFd, writeAtExit, FdHandle, PerfEvent, PerfType, type PerfEventAttr, type PerfEventOpenOptions } from './sys';
export { checkOptions, optionNames } from './options';
export { useCodeCache, codeCacheCheckpoint, codeCacheStats, codeCacheDirectory, CODE_CACHE_ENV, type CodeCacheStats } from './code-cache';

// BTF read in TypeScript, codecs built from it, and the skeleton generator (bpf-skel).
export { BtfParseError } from './errors';
export {
  Btf, BtfKind, loadBtf, type BtfArray, type BtfComposite, type BtfConst, type BtfDatasec, type BtfDatasecVar, type BtfDeclTag,
  type BtfEnum, type BtfEnum64, type BtfFloat, type BtfFunc, type BtfFuncProto, type BtfFwd, type BtfInt, type BtfKindName,
  type BtfLinkage, type BtfMember, type BtfParseOptions, type BtfPtr, type BtfRestrict, type BtfStruct, type BtfType, type BtfTypedef,
  type BtfTypeTag, type BtfUnion, type BtfVar, type BtfVoid, type BtfVolatile,
} from './btf/btf';
export { btfCodec, codecSupport, type Codec, type CodecOptions, type CodecSupport } from './btf/codec';
export { mapDefinitions, programDefinitions, type MapDefinition, type ProgramDefinition } from './btf/objects';
export { TypedMap, PerCpuTypedMap } from './map';
export {
  TypedRingBuffer, TypedPerfBuffer, RingBufferMap, PerfBufferMap, rawRecord, globalsView, checkSkeletonLayout,
  type TypedPerfRecord, type SkeletonLayout,
} from './skel/runtime';
export { generateSkeleton, type SkeletonOptions } from './skel/generate';
export { wrongSectionMessage, type GlobalLocator } from './globals';

native().setErrorFactory((op, errno, message) => new BpfError(op, errno, message));

/**
 * The libbpf release the addon is statically linked with (the package's pin, e.g. `1.7.0`),
 * the same on every machine: no system libbpf is used.
 */
export const libbpfVersion: string = native().libbpfVersion().release;

/**
 * The directory to give clang as `-I` for `<bpf/bpf_helpers.h>`, `<bpf/bpf_tracing.h>`,
 * `<bpf/bpf_core_read.h>` and `<bpf/bpf_endian.h>` of that same libbpf release, shipped in
 * the package: BPF programs build without libbpf-dev.
 */
export const bpfIncludeDir: string = path.resolve(__dirname, '..', '..', 'include');
