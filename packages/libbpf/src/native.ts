// Loads the addon and describes its (internal) surface. Nothing here is public API.
import * as path from 'node:path';

/** Map description as read from libbpf. */
export interface NativeMapInfo {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  internal: boolean;
  autocreate: boolean;
}

/** Program description as read from libbpf. */
export interface NativeProgramInfo {
  name: string;
  section: string;
  type: number;
  expectedAttachType: number;
  autoload: boolean;
}

/** One variable of a BTF DATASEC. */
export interface NativeDatasecVar {
  name: string;
  typeId: number;
  offset: number;
  size: number;
}

/** One BTF type record (fields present as the kind needs them). */
export interface NativeBtfType {
  kind: number;
  name: string;
  size?: number;
  type?: number;
  signed?: boolean;
  bool?: boolean;
  bits?: number;
  nelems?: number;
  elemType?: number;
}

/** Result of one CPU-pinned run. */
export interface NativeCpuRun {
  cpu: number;
  ranOn: number;
  errno: number;
  retval: number;
  durationNs: number;
  ctxOut: Buffer | null;
}

export interface NativeTestRun {
  retval: number;
  durationNs: number;
  ctxOut: Buffer | null;
  dataOut: Buffer | null;
}

export interface NativeLinkHandle {
  destroy(): void;
  /** Detaches on the thread pool; the handle is dead at once. */
  destroyAsync(): Promise<void>;
  fd(): number;
}

/** An fd the addon owns (perf_event_open, dupFd); closed once, by close(), GC or env cleanup. */
export interface NativeFdHandle {
  close(): void;
  /** The number, or -1 once closed. */
  fd(): number;
}

export interface NativeObjectHandle {
  close(): void;
  load(): void;
  maps(): NativeMapInfo[];
  programs(): NativeProgramInfo[];
  mapReuseFd(map: number, fd: number): void;
  mapSetMaxEntries(map: number, n: number): void;
  mapSetValueSize(map: number, n: number): void;
  mapFd(map: number): number;
  mapNextKey(map: number, key: Buffer | null): Buffer | undefined;
  mapReadData(map: number, offset: number, length: number): Buffer;
  mapWriteData(map: number, offset: number, bytes: Buffer): void;
  /**
   * Functions bound to the map and to these key/value Buffers: call([(flags << 4) | cmd: 0 lookup,
   * 1 update, 2 delete, 3 lookup into `out` and bind `out` to into][, out]) and into() (a lookup
   * into the bound out array, which the caller must have checked is still attached) =>
   * undefined (done) | errno.
   */
  mapFastOp(map: number, key: Buffer, value: Buffer): [call: (word?: number, out?: Uint8Array) => number | undefined, into: () => number | undefined];
  /**
   * A function bound to the map and to `state` ([u32 entries processed][u32][in token][out token],
   * tokens of max(key size, 4) bytes): (cmd | 16 (start at the in token) | elemFlags << 8, keys,
   * values | null, count) => undefined (done) | errno; cmd 0 lookup, 1 lookup and delete, 2 update, 3 delete.
   */
  mapBatchOp(map: number, state: Buffer): (word: number, keys: Buffer, values: Buffer | null, count: number) => number | undefined;
  mapMmap(map: number, writable: boolean): ArrayBuffer;
  mapUnmap(buffer: ArrayBuffer): boolean;
  progSetAutoload(prog: number, autoload: boolean): void;
  progFd(prog: number): number;
  progTestRun(prog: number, ctxIn: Buffer | null, dataIn: Buffer | null, repeat: number,
    ctxOutBytes: number, dataOutBytes: number, flags: number, cpu: number): NativeTestRun;
  progAttach(prog: number): NativeLinkHandle;
  progAttachTracepoint(prog: number, category: string, name: string): NativeLinkHandle;
  progAttachRawTracepoint(prog: number, name: string): NativeLinkHandle;
  progAttachPerfEvent(prog: number, perfEvent: NativeFdHandle): NativeLinkHandle;
  /** `ctxIn`: every run's context, or one per CPU. */
  progRunOnCpus(prog: number, cpus: number[], ctxIn: Buffer | Buffer[] | null, ctxOutBytes: number): Promise<NativeCpuRun[]>;
  btfDatasec(section: string): NativeDatasecVar[] | undefined;
  btfType(id: number): NativeBtfType;
}

/** Callback of the native perf buffer: one batch per wake-up. */
export type NativeBatchCallback = (bytes: Buffer, meta: Uint32Array, lost: number, errno: number) => void;

/** What both native buffers do: stop, stop watching for a while (a full queue), watch again. */
export interface NativeEventPoller {
  close(): void;
  pause(): void;
  resume(): void;
  setRef(ref: boolean): void;
}

/** A perf buffer: libbpf drains it, `consume()` delivers through the batch callback. */
export interface NativePerfBufferHandle extends NativeEventPoller {
  consume(): number;
}

/** The pages of a ring buffer map (see native/ring_buffer.cc), read and published by TS. */
export interface NativeRingRegions {
  /** The consumer position's page, read-write. */
  consumer: ArrayBuffer;
  /** The producer position's page and then the data, twice in a row; read-only. */
  producer: ArrayBuffer;
  /** Where the data starts in `producer` (one page). */
  dataOffset: number;
  /** The data's size (the map's max_entries, a power of two). */
  dataSize: number;
}

/**
 * A ring buffer: its mapped pages, and edge-triggered wake-ups (`onReadable` is called when
 * the kernel signals the ring; see native/event_poller.h).
 */
export interface NativeRingBufferHandle extends NativeEventPoller {
  regions(): NativeRingRegions;
  /** One more `onReadable` in the loop's next turn: a drain stopped before the ring was read out. */
  again(): void;
}

export interface NativeGridRunnerStats {
  cpu: number;
  runs: bigint;
  missed: bigint;
  late: bigint;
  wrongCpu: bigint;
  errors: bigint;
  sumLateNs: bigint;
  maxLateNs: bigint;
  lastNominalNs: bigint;
  nextNs: bigint;
  lastIndex: bigint;
  clockSteps: bigint;
  lastStepNs: bigint;
  lastErrno: number;
  lastRetval: number;
  stopped: boolean;
  running: boolean;
}

export interface NativeGridRunnerHandle {
  stats(): NativeGridRunnerStats;
  requestStop(): void;
  stop(): void;
}

export interface NativeAddon {
  NativeObject: new (source: string | Buffer, opts: object) => NativeObjectHandle;
  NativeRingBuffer: new (mapFd: number, onReadable: () => void) => NativeRingBufferHandle;
  NativePerfBuffer: new (mapFd: number, pagesPerCpu: number, cb: NativeBatchCallback) => NativePerfBufferHandle;
  NativeGridRunner: new (progFd: number, cpu: number, intervalNs: bigint, priority: number, kick: boolean, lateNs: bigint,
    realtime: boolean, stepNs: bigint) => NativeGridRunnerHandle;
  /** Takes the queued libbpf messages as [level, text, ...]; those above `maxLevel` are dropped. */
  drainLog(maxLevel?: number): Array<number | string>;
  setErrorFactory(f: (op: string, errno: number, message: string) => Error): void;
  libbpfVersion(): { major: number; minor: number; string: string; release: string };
  probeProgType(type: number): number;
  probeMapType(type: number): number;
  currentCpu(): number;
  threadAffinity(): number[];
  perfEventOpen(attr: object, pid: number, cpu: number): NativeFdHandle;
  dupFd(fd: number): NativeFdHandle;
  /** Writes `bytes` to `path` when this environment is torn down, unless cancelled first. */
  writeAtTeardown(path: string, bytes: string): number;
  cancelWriteAtTeardown(id: number): boolean;
}

const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

interface PrebuildFit {
  fits: boolean;
  reason?: string;
}

/** Why the shipped prebuild does not serve this machine (scripts/prebuild-fit.js decides). */
function prebuildReason(): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { prebuildFit } = require(path.join(PACKAGE_ROOT, 'scripts', 'prebuild-fit.js')) as { prebuildFit(): PrebuildFit };
    const fit = prebuildFit();
    return fit.fits ? undefined : fit.reason;
  } catch {
    return undefined;
  }
}

const REBUILD_HINT = 'build it from source with `npm rebuild @bpf-sync-timer/libbpf` or ' +
  `\`node ${path.join(PACKAGE_ROOT, 'scripts', 'build-native.js')}\` (needs g++, make, python3, libelf-dev and zlib1g-dev)`;

/**
 * Loads the addon through node-gyp-build: a source build in build/Release when there is one
 * (the repository's, or an install's fallback), else the prebuild for this platform.
 */
function load(): NativeAddon {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
  let file: string;
  try {
    file = gypBuild.resolve(PACKAGE_ROOT);
  } catch {
    const why = prebuildReason() ?? `no prebuilt addon fits ${process.platform}-${process.arch}`;
    throw new Error(`@bpf-sync-timer/libbpf: the native addon is missing: ${why}, and none was built from source; ${REBUILD_HINT}.`);
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as NativeAddon;
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    const hint = /lib(elf|z)\.so/.test(msg)
      ? 'install libelf1 and zlib1g (apt-get install -y libelf1 zlib1g)'
      : `${prebuildReason() ?? 'the binary does not fit this machine'}; ${REBUILD_HINT}`;
    throw new Error(`@bpf-sync-timer/libbpf: cannot load ${file}: ${msg}. Fix: ${hint}.`);
  }
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use. */
export function native(): NativeAddon {
  addon ??= load();
  return addon;
}

/**
 * Makes `native()` return `fake` instead of the addon, or the addon again for `undefined`
 * (loaded on next use). Only for unit tests, which check the TypeScript without libbpf or
 * a kernel (test/support/fake-native.ts); not exported from the package.
 * @internal
 */
export function setNativeForTesting(fake: NativeAddon | undefined): void {
  addon = fake;
}
