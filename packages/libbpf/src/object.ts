// BPF objects in two phases: OpenBpfObject (definitions can change) and BpfObject (loaded).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { constants as osConstants } from 'node:os';
import { MAP_TYPE_MIN_KERNEL, mapTypeName, PROGRAM_TYPE_MIN_KERNEL, programTypeName } from './constants';
import { ObjectCore } from './core';
import { BpfArgumentError, BpfError, extractVerifierLogs, hintFor, libbpfErrnoText, UnsupportedFeatureError, VerifierError } from './errors';
import { checkBpfObject } from './elf-check';
import { describeGlobals, GlobalSection, locateGlobals, type GlobalVar, type SectionAccess } from './globals';
import type { BpfLink } from './link';
import { flushLog, flushLogEntries, loggedLevel, routeLog } from './log';
import { BpfMap, OpenMap } from './map';
import { native, type NativeMapInfo, type NativeProgramInfo } from './native';
import { checkOptions, optionNames } from './options';
import { BpfProgram, OpenProgram } from './program';

/** Options of `BpfObject.open`; any other name is refused with a BpfArgumentError. */
export interface OpenOptions {
  /** Object name (default: from the file name); prefixes internal map names. */
  objectName?: string;
  /** BTF of the running kernel when /sys/kernel/btf/vmlinux is missing (CO-RE relocations). */
  btfCustomPath?: string;
  /** Verifier log level for successful loads too (1 or 2); failed loads always get their log. */
  logLevel?: number;
  /**
   * Check the ELF, symbol, relocation and BTF structure in TypeScript before libbpf reads
   * the object (default true), so that a damaged object is a BpfError naming the damage.
   * `false` leaves the bytes to libbpf alone: for objects your own build produced and
   * ships, where the check's cost (~1 to 3 ms on a process's first open, while V8 has not
   * compiled it yet; a file unchanged since its last check is not read again) matters.
   */
  checkStructure?: boolean;
}

const OPEN_OPTION_NAMES = optionNames<OpenOptions>()('objectName', 'btfCustomPath', 'logLevel', 'checkStructure');

const SECTIONS = ['.rodata', '.data', '.bss'] as const;
type SectionName = (typeof SECTIONS)[number];

function findByName<T extends { name: string }>(items: T[], name: string, kind: string, objectName: string): T {
  const found = items.find((i) => i.name === name);
  if (!found) {
    const known = items.map((i) => i.name).join(', ') || 'none';
    throw new BpfError(`${kind} lookup`, osConstants.errno.ENOENT, `no ${kind} named '${name}' in BPF object '${objectName}' (known: ${known})`);
  }
  return found;
}

function internalMapIndex(maps: NativeMapInfo[], section: SectionName): number {
  return maps.findIndex((m) => m.internal && m.name.endsWith(section));
}

class Phase {
  /** @internal */ protected readonly core: ObjectCore;
  /** @internal */ protected readonly globals = new Map<SectionName, Map<string, GlobalVar>>();
  #maps: NativeMapInfo[] | undefined;
  #progs: NativeProgramInfo[] | undefined;

  /** @internal */
  constructor(core: ObjectCore) {
    this.core = core;
  }

  // Before load, setters (reuseFd, setMaxEntries, setAutoload...) change the definitions,
  // so the listings are read again; after load they are fixed, and read once, when first
  // needed (a start-up that asks for one program does not build every map's description).
  /** @internal */
  protected get mapInfo(): NativeMapInfo[] {
    if (this.core.state === 'open' || this.#maps === undefined) this.#maps = this.core.handle.maps();
    return this.#maps;
  }

  /** @internal */
  protected get progInfo(): NativeProgramInfo[] {
    if (this.core.state === 'open' || this.#progs === undefined) this.#progs = this.core.handle.programs();
    return this.#progs;
  }

  /** The object's name. */
  get name(): string {
    return this.core.name;
  }

  /** @internal */
  protected section(section: SectionName, writable: boolean, phase: 'open' | 'loaded'): GlobalSection {
    const h = this.core.require(phase, `globals ${section}`);
    const index = internalMapIndex(this.mapInfo, section);
    // A name missed here is looked up in the other sections, to say where it is.
    const core = this.core;
    const what = `globals ${section}`;
    const locate = locateGlobals((s) => core.require(phase, what).btfDatasec(s));
    if (index < 0) return new GlobalSection(section, new Map(), undefined, locate);
    let vars = this.globals.get(section);
    if (!vars) {
      vars = describeGlobals(h.btfDatasec(section) ?? [], (id) => h.btfType(id));
      this.globals.set(section, vars);
    }
    const access: SectionAccess = {
      read: (offset, length) => core.handle.mapReadData(index, offset, length),
      write: (offset, bytes) => core.handle.mapWriteData(index, offset, bytes),
      checkWritable: () => {
        if (!writable) {
          throw new BpfError(`write to ${section}`, osConstants.errno.EPERM, `${section} is read-only after load`,
            { hint: 'const volatile globals are fixed at load: set them on the OpenBpfObject, before load().' });
        }
      },
      checkOpen: () => void core.require(phase, what),
    };
    return new GlobalSection(section, vars, access, locate);
  }
}

/** An opened, not yet loaded object: maps and programs can still be changed. */
export class OpenBpfObject extends Phase {
  /** Opens an ELF object from a file path or from memory. Nothing is loaded into the kernel yet. */
  static open(source: string | Buffer, options: OpenOptions = {}): OpenBpfObject {
    if (typeof source !== 'string' && !Buffer.isBuffer(source)) {
      throw new BpfArgumentError('pathOrBuffer', 'expected a file path or a Buffer holding an ELF object');
    }
    checkOptions('BpfObject.open', options, OPEN_OPTION_NAMES);
    if (typeof source === 'string') checkRegularFile('pathOrBuffer', source, 'BPF object file');
    const opts = validateOpenOptions(options);
    if (opts.checkStructure !== false) checkBpfObject(source);
    const name = opts.objectName ?? (typeof source === 'string' ? path.basename(source).split('.')[0] : 'object');
    let handle;
    try {
      const Native = native().NativeObject;
      // What the logger would drop is not even formatted: libbpf's dozens of debug lines
      // per open (a failed open is explained from its warnings alone).
      handle = new Native(source, { objectName: opts.objectName, btfCustomPath: opts.btfCustomPath, kernelLogLevel: opts.logLevel ?? 0, logCapture: loggedLevel() });
    } catch (e) {
      throw explainOpenFailure(e, flushLogEntries(), typeof source === 'string' ? path.resolve(source) : `from a Buffer of ${source.length} bytes`);
    }
    routeLog();
    return new OpenBpfObject(new ObjectCore(handle, name));
  }

  /** The map named `name` (its C name). */
  map(name: string): OpenMap {
    this.core.require('open', `map '${name}'`);
    const maps = this.mapInfo;
    const info = findByName(maps, name, 'map', this.name);
    return new OpenMap(this.core, maps.indexOf(info), info);
  }

  /** The program named `name` (its C function name). */
  program(name: string): OpenProgram {
    this.core.require('open', `program '${name}'`);
    const progs = this.progInfo;
    const info = findByName(progs, name, 'program', this.name);
    return new OpenProgram(this.core, progs.indexOf(info), info);
  }

  /** All maps, internal ones (`.bss`, `.data`, `.rodata`) included. */
  get maps(): OpenMap[] {
    this.core.require('open', 'maps');
    return this.mapInfo.map((m, i) => new OpenMap(this.core, i, m));
  }

  /** All programs. */
  get programs(): OpenProgram[] {
    this.core.require('open', 'programs');
    return this.progInfo.map((p, i) => new OpenProgram(this.core, i, p));
  }

  /** `const volatile` globals: set them here, before load, and the verifier sees the values. */
  get rodata(): GlobalSection {
    return this.section('.rodata', true, 'open');
  }

  /** Initialized globals (initial values; live memory after load). */
  get data(): GlobalSection {
    return this.section('.data', true, 'open');
  }

  /** Zero-initialized globals (initial values; live memory after load). */
  get bss(): GlobalSection {
    return this.section('.bss', true, 'open');
  }

  /**
   * Creates the maps and loads the programs into the kernel. This open object becomes
   * unusable; use the returned BpfObject. On failure everything is released and a
   * VerifierError (with the log), UnsupportedFeatureError or BpfError is thrown.
   */
  load(): BpfObject {
    const h = this.core.require('open', 'load()');
    let messages: string[] = [];
    try {
      h.load();
      routeLog();
    } catch (e) {
      messages = flushLog();
      const err = explainLoadFailure(e, messages, this.mapInfo, this.progInfo);
      this.core.close();
      throw err;
    }
    const loaded = new ObjectCore(h, this.core.name);
    loaded.state = 'loaded';
    // This phase's core is consumed: it must neither close the handle nor accept calls.
    this.core.state = 'loaded';
    return new BpfObject(loaded);
  }

  /** Releases the object without loading it. Idempotent. */
  close(): void {
    if (this.core.state === 'open') this.core.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function validateOpenOptions(o: OpenOptions): OpenOptions {
  if (o.objectName !== undefined && (typeof o.objectName !== 'string' || o.objectName === '')) {
    throw new BpfArgumentError('objectName', 'expected a non-empty string');
  }
  if (o.btfCustomPath !== undefined) {
    if (typeof o.btfCustomPath !== 'string') throw new BpfArgumentError('btfCustomPath', 'expected a path');
    checkRegularFile('btfCustomPath', o.btfCustomPath, 'BTF file');
  }
  if (o.logLevel !== undefined && (!Number.isInteger(o.logLevel) || o.logLevel < 0 || o.logLevel > 7)) {
    throw new BpfArgumentError('logLevel', 'expected 0, 1, 2 or 4 (or their sum)');
  }
  if (o.checkStructure !== undefined && typeof o.checkStructure !== 'boolean') {
    throw new BpfArgumentError('checkStructure', `expected true or false, got ${String(o.checkStructure)}`);
  }
  return o;
}

/** What a non-regular file is, for the message. */
function fileKind(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Refuses a path libbpf must not be given: a missing file (BpfError ENOENT), or anything
 * but a regular file (BpfArgumentError): libbpf would block forever reading a FIFO, and
 * fail with unhelpful errnos on directories and devices. Symlinks are followed.
 */
function checkRegularFile(argument: string, file: string, what: string): void {
  const abs = path.resolve(file);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new BpfError('bpf_object__open', osConstants.errno.ENOENT, `no ${what} at ${abs}`);
    const errno = osConstants.errno[code as keyof typeof osConstants.errno] ?? osConstants.errno.EIO;
    throw new BpfError('bpf_object__open', errno, `cannot read the ${what} ${abs}: ${(e as Error).message}`, { cause: e, hint: null });
  }
  if (!st.isFile()) throw new BpfArgumentError(argument, `${abs} is ${fileKind(st)}, not a ${what} (a regular file is needed)`);
}

// The errnos libbpf's open returns for a malformed object, whose strerror text would
// mislead (ENOENT reads "No such file or directory" for a file that is there).
const MALFORMED_OPEN_ERRNOS = new Set<number>([osConstants.errno.ENOENT, osConstants.errno.EINVAL, osConstants.errno.EOPNOTSUPP,
  osConstants.errno.E2BIG, osConstants.errno.ENOTSUP, 4000, 4001, 4002, 4003, 4005]);

/**
 * A failure that reached TS without a type (a plain Error from node-addon-api, such as
 * "Error in native callback", or a non-Error) as a BpfError saying what was being done;
 * TypeErrors (bad arguments) and typed errors pass through.
 * @internal
 */
export function untypedNativeError(e: unknown, op: string, doing: string): Error {
  if (e instanceof Error && e.constructor !== Error) return e;
  const text = e instanceof Error ? e.message : String(e);
  return new BpfError(op, osConstants.errno.EINVAL, `${doing}: the native layer failed without an errno (${text})`, { cause: e, hint: null });
}

/**
 * A failed open as a BpfError naming the object and libbpf's reason (its last warnings),
 * with a hint to rebuild it when the object is malformed.
 * @internal
 */
export function explainOpenFailure(e: unknown, log: Array<{ level: string; text: string }>, what: string): Error {
  if (!(e instanceof BpfError)) return untypedNativeError(e, 'bpf_object__open', `cannot open the BPF object ${what}`);
  const warnings = log.filter((m) => m.level === 'warn').map((m) => m.text.trim().replace(/^libbpf: /, '')).filter((t) => t !== '');
  const detail = warnings.slice(-2).join('; ');
  const reason = libbpfErrnoText(e.errno) ?? /^[^:]+: ([^(]+?)(?: \(E|$)/.exec(e.message)?.[1]?.trim() ?? e.code;
  const malformed = MALFORMED_OPEN_ERRNOS.has(e.errno);
  const missing = e.errno === osConstants.errno.ENOENT ? 'something it refers to (a section, symbol or BTF type) is missing' : reason;
  const message = malformed
    ? `cannot open the BPF object ${what}: it is malformed (${detail || missing})`
    : `cannot open the BPF object ${what}: ${reason}${detail ? ` (${detail})` : ''}`;
  return new BpfError('bpf_object__open', e.errno, message, {
    cause: e,
    hint: malformed && hintFor('bpf_object__open', e.errno) === undefined ? 'rebuild it with clang -target bpf -g (a truncated or corrupted file, or one from an incompatible toolchain, cannot be read)' : undefined,
  });
}

/**
 * The kernel feature probes behind `explainLoadFailure`; injectable so that the mapping
 * from a failed load to an error is tested without a kernel (see test/unit).
 * @internal
 */
export interface FeatureProbe {
  /** 1 when the kernel has this map type, 0 when it does not, < 0 when the probe failed. */
  mapType(type: number): number;
  /** 1 when the kernel has this program type, 0 when it does not, < 0 when the probe failed. */
  progType(type: number): number;
}

/** @internal the real probes (libbpf_probe_bpf_map_type / libbpf_probe_bpf_prog_type). */
export const kernelProbe: FeatureProbe = {
  mapType: (type) => native().probeMapType(type),
  progType: (type) => native().probeProgType(type),
};

/** ENOTSUPP: the kernel-internal "not supported" that some BPF paths return to user space. */
const ENOTSUPP = 524;
// The errnos with which the kernel refuses a map or program type it does not have. Other
// failures (EPERM above all: libbpf's probes report "unsupported" for every type when
// they are not allowed to create anything) are not about missing features.
const MISSING_FEATURE_ERRNOS = new Set<number>([osConstants.errno.EINVAL, osConstants.errno.EOPNOTSUPP, ENOTSUPP]);

/**
 * Turns a failed load into the most specific error: VerifierError when libbpf logged a
 * verifier log; UnsupportedFeatureError when the kernel refused with EINVAL/EOPNOTSUPP and
 * a probe shows that it lacks a map or program type the object uses; else a BpfError
 * carrying the load's errno (and its hint), with libbpf's last error lines as the message.
 * @internal
 */
export function explainLoadFailure(e: unknown, messages: string[], maps: NativeMapInfo[], progs: NativeProgramInfo[],
  probe: FeatureProbe = kernelProbe): Error {
  if (!(e instanceof BpfError)) return untypedNativeError(e, 'bpf_object__load', 'loading the object failed');
  const logs = extractVerifierLogs(messages);
  if (logs.length > 0) return new VerifierError(logs[0].program, e.errno, logs[0].log);
  if (MISSING_FEATURE_ERRNOS.has(e.errno)) {
    for (const m of maps) {
      if (m.autocreate !== false && probe.mapType(m.type) === 0) {
        return new UnsupportedFeatureError(mapTypeName(m.type), MAP_TYPE_MIN_KERNEL[m.type] ?? 'a newer kernel', { cause: e });
      }
    }
    for (const p of progs) {
      if (p.autoload && probe.progType(p.type) === 0) {
        return new UnsupportedFeatureError(programTypeName(p.type), PROGRAM_TYPE_MIN_KERNEL[p.type] ?? 'a newer kernel', { cause: e });
      }
    }
  }
  const detail = messages.filter((m) => /error|fail|invalid|unsupported|not permitted/i.test(m)).map((m) => m.trim()).slice(-3).join(' | ');
  // The addon's message is "op: strerror (CODE)..."; keep the strerror text in front, since
  // libbpf's own lines name the errno only as -EPERM and the like (1.7 and later).
  const reason = /^[a-z_]+: ([^(]+?) \(E/.exec(e.message)?.[1];
  return new BpfError('bpf_object__load', e.errno, detail ? `loading the object failed: ${reason ? `${reason}: ` : ''}${detail}` : undefined, { cause: e });
}

/** A loaded object: its maps exist and its programs are in the kernel. */
export class BpfObject extends Phase {
  /** Opens an object; see `OpenBpfObject.open`. */
  static open(source: string | Buffer, options?: OpenOptions): OpenBpfObject {
    return OpenBpfObject.open(source, options);
  }

  /** The map named `name`. */
  map(name: string): BpfMap {
    this.core.require('loaded', `map '${name}'`);
    const info = findByName(this.mapInfo, name, 'map', this.name);
    return new BpfMap(this.core, this.mapInfo.indexOf(info), info); // definitions are fixed once loaded
  }

  /** The program named `name`. */
  program(name: string): BpfProgram {
    this.core.require('loaded', `program '${name}'`);
    const info = findByName(this.progInfo, name, 'program', this.name);
    return new BpfProgram(this.core, this.progInfo.indexOf(info), info);
  }

  /** All maps. */
  get maps(): BpfMap[] {
    this.core.require('loaded', 'maps');
    return this.core.handle.maps().map((m, i) => new BpfMap(this.core, i, m));
  }

  /** All loaded programs. */
  get programs(): BpfProgram[] {
    this.core.require('loaded', 'programs');
    return this.progInfo.map((p, i) => new BpfProgram(this.core, i, p)).filter((p) => p.autoload);
  }

  /**
   * Attaches every loaded program whose section says how (tracepoint/, kprobe/, raw_tp/,
   * tp_btf/, fentry/, ...). Programs without an automatic attach point (syscall, socket
   * filters, ...) are skipped. All or nothing: on failure the links made so far are destroyed.
   */
  attachAll(): BpfLink[] {
    const links: BpfLink[] = [];
    try {
      for (const p of this.programs) {
        if (!hasAutoAttach(p.section)) continue;
        links.push(p.attach());
      }
    } catch (e) {
      for (const l of links) l.destroy();
      throw e;
    }
    return links;
  }

  /** `.rodata` globals, read-only after load. */
  get rodata(): GlobalSection {
    return this.section('.rodata', false, 'loaded');
  }

  /** `.data` globals: the kernel's memory, shared with the running programs. */
  get data(): GlobalSection {
    return this.section('.data', true, 'loaded');
  }

  /** `.bss` globals: the kernel's memory, shared with the running programs. */
  get bss(): GlobalSection {
    return this.section('.bss', true, 'loaded');
  }

  /** True until `close()`. */
  get open(): boolean {
    return this.core.state === 'loaded';
  }

  /** Detaches every link, closes buffers made on its maps, and releases maps and programs. Idempotent. */
  close(): void {
    this.core.close();
  }

  /**
   * As `close()`, with the links detached on the libuv pool, all at once, instead of one
   * after another on the JS thread (a tracepoint detach waits tens of ms for RCU); resolves
   * once maps and programs are released too. The object is unusable from the call on.
   * Idempotent. Minimum kernel: as the object.
   *
   * @example
   * await Promise.all(objects.map((o) => o.closeAsync()));
   */
  closeAsync(): Promise<void> {
    return this.core.closeAsync();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.closeAsync();
  }
}

const AUTO_ATTACH = /^(tp|tracepoint|raw_tp|raw_tracepoint|raw_tp\.w|raw_tracepoint\.w|tp_btf|fentry|fexit|fmod_ret|kprobe|kretprobe|uprobe|uretprobe|kprobe\.multi|kretprobe\.multi|lsm|iter|usdt)(\.s)?\//;

function hasAutoAttach(section: string): boolean {
  return AUTO_ATTACH.test(section);
}
