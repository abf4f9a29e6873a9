// Loads the addon and describes its (internal) surface. Nothing here is public API.
import * as fs from 'node:fs';
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
  mapLookup(map: number, key: Buffer, valueBytes: number, flags: number): Buffer | undefined;
  mapLookupInto(map: number, key: Buffer, out: Buffer, flags: number): boolean;
  mapUpdate(map: number, key: Buffer, value: Buffer, flags: number): void;
  mapDelete(map: number, key: Buffer): boolean;
  mapNextKey(map: number, key: Buffer | null): Buffer | undefined;
  mapReadData(map: number, offset: number, length: number): Buffer;
  mapWriteData(map: number, offset: number, bytes: Buffer): void;
  progSetAutoload(prog: number, autoload: boolean): void;
  progFd(prog: number): number;
  progTestRun(prog: number, ctxIn: Buffer | null, dataIn: Buffer | null, repeat: number,
    ctxOutBytes: number, dataOutBytes: number, flags: number, cpu: number): NativeTestRun;
  progAttach(prog: number): NativeLinkHandle;
  progAttachTracepoint(prog: number, category: string, name: string): NativeLinkHandle;
  progAttachRawTracepoint(prog: number, name: string): NativeLinkHandle;
  progAttachPerfEvent(prog: number, perfFd: number): NativeLinkHandle;
  progRunOnCpus(prog: number, cpus: number[], ctxIn: Buffer | null, ctxOutBytes: number): Promise<NativeCpuRun[]>;
  btfDatasec(section: string): NativeDatasecVar[] | undefined;
  btfType(id: number): NativeBtfType;
}

/** Callback of the native event pollers: one batch per wake-up. */
export type NativeBatchCallback = (bytes: Buffer, meta: Uint32Array, lost: number, errno: number) => void;

export interface NativeEventBuffer {
  consume(): number;
  close(): void;
  setRef(ref: boolean): void;
}

export interface NativeAddon {
  NativeObject: new (source: string | Buffer, opts: object) => NativeObjectHandle;
  NativeRingBuffer: new (mapFd: number, cb: NativeBatchCallback) => NativeEventBuffer;
  NativePerfBuffer: new (mapFd: number, pagesPerCpu: number, cb: NativeBatchCallback) => NativeEventBuffer;
  drainLog(): Array<number | string>;
  setErrorFactory(f: (op: string, errno: number, message: string) => Error): void;
  libbpfVersion(): { major: number; minor: number; string: string };
  probeProgType(type: number): number;
  probeMapType(type: number): number;
  currentCpu(): number;
  threadAffinity(): number[];
  perfEventOpen(attr: object, pid: number, cpu: number): number;
  dupFd(fd: number): number;
  closeFd(fd: number): void;
}

function load(): NativeAddon {
  const root = path.resolve(__dirname, '..', '..');
  const candidates = ['build/Release/bpf_native.node', 'build/Debug/bpf_native.node'].map((p) => path.join(root, p));
  const file = candidates.find((c) => fs.existsSync(c));
  if (!file) {
    throw new Error(
      `@bpf-sync-timer/libbpf: the native addon is not built (looked for ${candidates.join(', ')}). ` +
        'Run `npm rebuild @bpf-sync-timer/libbpf` after installing libbpf-dev, g++ and make.',
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as NativeAddon;
  } catch (e) {
    throw new Error(
      `@bpf-sync-timer/libbpf: cannot load ${file}: ${(e as Error).message}. ` +
        'The addon links the system libbpf.so.1: install it with `apt-get install libbpf1` (libbpf 1.0 or newer).',
    );
  }
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use. */
export function native(): NativeAddon {
  addon ??= load();
  return addon;
}
