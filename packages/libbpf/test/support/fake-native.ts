// A scripted stand-in for the native addon, typed against src/native.ts and installed with
// setNativeForTesting, so that unit tests check the binding's TypeScript (argument checks,
// phases, error mapping, the globals' wiring) with no libbpf, no BPF syscall and no root.
// Every call is recorded, and a call the test did not script throws: a unit test that
// reaches for libbpf or the kernel fails instead of quietly using them.
import { BpfError } from '../../src/errors';
import {
  setNativeForTesting, type NativeAddon, type NativeBtfType, type NativeDatasecVar, type NativeLinkHandle,
  type NativeMapInfo, type NativeObjectHandle, type NativeProgramInfo,
} from '../../src/native';

/** What libbpf would read from an ELF object; the fake's setters change it as libbpf's do. */
export interface FakeObjectSpec {
  maps: NativeMapInfo[];
  programs: NativeProgramInfo[];
  /** Variables of each DATASEC, by section name (`.rodata`, `.data`, `.bss`). */
  datasecs?: Record<string, NativeDatasecVar[]>;
  /** BTF types by id. */
  btf?: Record<number, NativeBtfType>;
  /** Initial bytes of internal maps by map name (default: valueSize zero bytes). */
  images?: Record<string, Buffer>;
  /** Makes `load()` fail as bpf_object__load does: with `errno`, after logging `messages`. */
  loadFailure?: { errno: number; messages?: string[] };
}

/** What the test scripts; anything left out throws when called. */
export interface FakeNativeOptions {
  /** What `new NativeObject(source, opts)` opens; throw (a BpfError) to fail like bpf_object__open. */
  open?: (source: string | Buffer, opts: object) => FakeObjectSpec;
  /** libbpf_probe_bpf_map_type: 1 supported, 0 not, < 0 the probe failed. */
  probeMapType?: (type: number) => number;
  /** libbpf_probe_bpf_prog_type, as `probeMapType`. */
  probeProgType?: (type: number) => number;
  /** The release `libbpfVersion()` reports (e.g. `1.7.0`); needed to import src/index under the fake. */
  libbpfRelease?: string;
}

/** One call into the fake: `op` is the addon's or the object handle's method name. */
export interface NativeCall {
  op: string;
  args: unknown[];
}

/** A call the test did not script: the code under test wanted libbpf or the kernel. */
export class UnexpectedNativeCall extends Error {
  constructor(op: string) {
    super(`fake native addon: ${op}() was called, but this test scripts no ${op}: a unit test must not need libbpf or the kernel`);
    this.name = 'UnexpectedNativeCall';
  }
}

/** The installed fake: what was called, and the objects opened through it. */
export interface FakeNative {
  readonly addon: NativeAddon;
  readonly calls: NativeCall[];
  readonly objects: FakeObject[];
  /** The ops called so far, in order. */
  ops(): string[];
  /** Queues a libbpf message for the next `drainLog()` (level 0 warn, 1 info, 2 debug). */
  log(level: number, text: string): void;
  /** Forgets the calls and objects so far. */
  reset(): void;
  /** Puts the real addon back (loaded on next use). */
  uninstall(): void;
}

/** An object handle of the fake: the spec's listings and images, changed by the setters. */
export class FakeObject implements NativeObjectHandle {
  readonly source: string | Buffer;
  readonly opts: object;
  readonly images: Buffer[];
  state: 'open' | 'loaded' | 'closed' = 'open';
  readonly #spec: FakeObjectSpec;
  readonly #fake: FakeState;

  /** @internal */
  constructor(fake: FakeState, source: string | Buffer, opts: object, spec: FakeObjectSpec) {
    this.#fake = fake;
    this.source = source;
    this.opts = opts;
    this.#spec = { ...spec, maps: spec.maps.map((m) => ({ ...m })), programs: spec.programs.map((p) => ({ ...p })) };
    this.images = this.#spec.maps.map((m) => Buffer.from(spec.images?.[m.name] ?? Buffer.alloc(m.valueSize)));
  }

  close(): void {
    this.#fake.record('close', []);
    this.state = 'closed';
  }

  load(): void {
    this.#use('load', []);
    const failure = this.#spec.loadFailure;
    if (failure) {
      for (const m of failure.messages ?? []) this.#fake.log(0, m);
      throw new BpfError('bpf_object__load', failure.errno);
    }
    this.state = 'loaded';
  }

  maps(): NativeMapInfo[] {
    this.#use('maps', []);
    return this.#spec.maps.map((m) => ({ ...m }));
  }

  programs(): NativeProgramInfo[] {
    this.#use('programs', []);
    return this.#spec.programs.map((p) => ({ ...p }));
  }

  mapSetMaxEntries(map: number, n: number): void {
    this.#use('mapSetMaxEntries', [map, n]);
    this.#map(map).maxEntries = n;
  }

  mapSetValueSize(map: number, n: number): void {
    this.#use('mapSetValueSize', [map, n]);
    this.#map(map).valueSize = n;
  }

  progSetAutoload(prog: number, autoload: boolean): void {
    this.#use('progSetAutoload', [prog, autoload]);
    const p = this.#spec.programs[prog];
    if (!p) throw new RangeError(`fake native addon: no program ${prog}`);
    p.autoload = autoload;
  }

  mapReadData(map: number, offset: number, length: number): Buffer {
    this.#use('mapReadData', [map, offset, length]);
    return Buffer.from(this.#range(map, offset, length));
  }

  mapWriteData(map: number, offset: number, bytes: Buffer): void {
    this.#use('mapWriteData', [map, offset, Buffer.from(bytes)]);
    bytes.copy(this.#range(map, offset, bytes.length));
  }

  btfDatasec(section: string): NativeDatasecVar[] | undefined {
    this.#use('btfDatasec', [section]);
    return this.#spec.datasecs?.[section]?.map((v) => ({ ...v }));
  }

  btfType(id: number): NativeBtfType {
    this.#use('btfType', [id]);
    const t = this.#spec.btf?.[id];
    if (!t) throw new RangeError(`fake native addon: no BTF type ${id}`);
    return { ...t };
  }

  // Element operations, fds, test runs and attachment are the kernel's: never faked.
  mapReuseFd(): void { this.#unscripted('mapReuseFd'); }
  mapFd(): number { return this.#unscripted('mapFd'); }
  mapNextKey(): Buffer | undefined { return this.#unscripted('mapNextKey'); }
  mapFastOp(): never { return this.#unscripted('mapFastOp'); }
  mapBatchOp(): never { return this.#unscripted('mapBatchOp'); }
  mapMmap(): ArrayBuffer { return this.#unscripted('mapMmap'); }
  mapUnmap(): boolean { return this.#unscripted('mapUnmap'); }
  progFd(): number { return this.#unscripted('progFd'); }
  progTestRun(): never { return this.#unscripted('progTestRun'); }
  progAttach(): NativeLinkHandle { return this.#unscripted('progAttach'); }
  progAttachTracepoint(): NativeLinkHandle { return this.#unscripted('progAttachTracepoint'); }
  progAttachRawTracepoint(): NativeLinkHandle { return this.#unscripted('progAttachRawTracepoint'); }
  progAttachPerfEvent(): NativeLinkHandle { return this.#unscripted('progAttachPerfEvent'); }
  progRunOnCpus(): never { return this.#unscripted('progRunOnCpus'); }

  // The addon refuses a closed handle; so does the fake, so that a use after close shows.
  #use(op: string, args: unknown[]): void {
    this.#fake.record(op, args);
    if (this.state === 'closed') throw new Error(`fake native addon: ${op}() on a closed object`);
  }

  #unscripted(op: string): never {
    this.#fake.record(op, []);
    throw new UnexpectedNativeCall(op);
  }

  #map(map: number): NativeMapInfo {
    const m = this.#spec.maps[map];
    if (!m) throw new RangeError(`fake native addon: no map ${map}`);
    return m;
  }

  // The addon checks offsets and lengths against the map's value size; so does the fake.
  #range(map: number, offset: number, length: number): Buffer {
    const image = this.images[map];
    if (!image) throw new RangeError(`fake native addon: no map ${map}`);
    if (offset < 0 || length < 0 || offset + length > image.length) {
      throw new RangeError(`fake native addon: bytes ${offset}..${offset + length} are outside map ${map} (${image.length} bytes)`);
    }
    return image.subarray(offset, offset + length);
  }
}

interface FakeState {
  record(op: string, args: unknown[]): void;
  log(level: number, text: string): void;
}

/**
 * Installs a fake addon: from now on `native()` returns it. Install it before the code under
 * test first calls `native()`; src/index.ts calls it on import, so import the modules under
 * test (../../src/object and the like) rather than the index.
 */
export function installFakeNative(options: FakeNativeOptions = {}): FakeNative {
  const calls: NativeCall[] = [];
  const objects: FakeObject[] = [];
  let queued: Array<number | string> = [];
  const state: FakeState = {
    record: (op, args) => void calls.push({ op, args }),
    log: (level, text) => void queued.push(level, text),
  };
  // A function, not an arrow: the buffers are constructors, and `new` must reach the throw.
  const unscripted = (op: string) => function (): never {
    state.record(op, []);
    throw new UnexpectedNativeCall(op);
  };
  function probe(op: string, f: ((type: number) => number) | undefined) {
    return (type: number): number => {
      if (!f) return unscripted(op)();
      state.record(op, [type]);
      return f(type);
    };
  }

  const NativeObject = function (source: string | Buffer, opts: object): FakeObject {
    state.record('NativeObject', [source, opts]);
    if (!options.open) throw new UnexpectedNativeCall('NativeObject');
    const obj = new FakeObject(state, source, opts, options.open(source, opts));
    objects.push(obj);
    return obj;
  } as unknown as NativeAddon['NativeObject'];

  const addon: NativeAddon = {
    NativeObject,
    NativeRingBuffer: unscripted('NativeRingBuffer') as unknown as NativeAddon['NativeRingBuffer'],
    NativePerfBuffer: unscripted('NativePerfBuffer') as unknown as NativeAddon['NativePerfBuffer'],
    NativeGridRunner: unscripted('NativeGridRunner') as unknown as NativeAddon['NativeGridRunner'],
    drainLog: (maxLevel?: number) => {
      state.record('drainLog', maxLevel === undefined ? [] : [maxLevel]);
      const out = queued.filter((_, i) => maxLevel === undefined || (queued[i - (i % 2)] as number) <= maxLevel);
      queued = [];
      return out;
    },
    // The fake throws BpfErrors itself; the factory src/index.ts registers is only recorded.
    setErrorFactory: (f) => void state.record('setErrorFactory', [f]),
    libbpfVersion: () => {
      if (options.libbpfRelease === undefined) return unscripted('libbpfVersion')();
      state.record('libbpfVersion', []);
      const [major, minor] = options.libbpfRelease.split('.').map(Number);
      return { major, minor, string: `v${major}.${minor}`, release: options.libbpfRelease };
    },
    probeMapType: probe('probeMapType', options.probeMapType),
    probeProgType: probe('probeProgType', options.probeProgType),
    currentCpu: unscripted('currentCpu'),
    threadAffinity: unscripted('threadAffinity'),
    perfEventOpen: unscripted('perfEventOpen'),
    dupFd: unscripted('dupFd'),
    writeAtTeardown: unscripted('writeAtTeardown'),
    cancelWriteAtTeardown: unscripted('cancelWriteAtTeardown'),
  };
  setNativeForTesting(addon);
  return {
    addon,
    calls,
    objects,
    ops: () => calls.map((c) => c.op),
    log: state.log,
    reset: () => {
      calls.length = 0;
      objects.length = 0;
      queued = [];
    },
    uninstall: () => setNativeForTesting(undefined),
  };
}
