// A V8 code cache for the packages' own compiled modules. V8 compiles a function the first
// time it is called, so a process's first SyncTimer.start used to spend about as long
// compiling the ~150 functions on its path as libbpf spends loading the object (~2 ms of
// ~6). With the cache, a process takes their bytecode from an earlier process instead: the
// modules are compiled with `vm.Script` and the `cachedData` that `createCachedData()` made
// after that process's start-up (or at its exit), lazily compiled functions included.
//
// Robust by construction: any problem (no home directory, read-only disk, a cache file of
// another user, of another Node or V8 version or flags, of other source bytes) means the
// module is compiled as Node would compile it; nothing is written into the package. Each
// cache file holds one package directory's modules for one Node binary and command line.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';

/**
 * The environment variable that controls the code cache: `0` (or `off`, `false`, `no`)
 * turns it off, an absolute path puts its files there instead of
 * `$XDG_CACHE_HOME/bpf-sync-timer/v8` (`~/.cache/bpf-sync-timer/v8`; root always uses its
 * own home).
 */
export const CODE_CACHE_ENV = 'BPF_SYNC_TIMER_CODE_CACHE';

/** Node's module internals the loader uses (stable since Node 0.x; not in @types/node). */
interface ModuleInternals {
  _nodeModulePaths(dir: string): string[];
  _resolveFilename(request: string, parent: NodeJS.Module, isMain: boolean): string;
}
const NodeModule = Module as unknown as (new (id: string, parent?: NodeJS.Module) => NodeJS.Module) & ModuleInternals & typeof Module;

// Our own wrapper (not Module.wrap, which tools patch): the source keeps its lines.
const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const WRAPPER_TAIL = '\n});';
const MAGIC = 'BSTV8CC1';
const MAX_FILE_BYTES = 64 << 20;
// Command-line options under which Node's own loader does more than compile: keep it.
const NODE_LOADER_OPTIONS = /--(enable-source-maps|experimental-policy|policy-integrity|experimental-permission)\b/;

/** What one package's cache did in this process (for tests and diagnostics). */
export interface CodeCacheStats {
  /** The cache file, or undefined when the cache is off. */
  file: string | undefined;
  /** Modules compiled from cached data V8 accepted. */
  hits: number;
  /** Modules compiled without cached data (none, or V8 rejected it). */
  misses: number;
}

interface Loaded {
  rel: string;
  hash: string;
  script: vm.Script;
}

interface Blob {
  startedUp: boolean;
  entries: Map<string, Buffer>;
}

/** A cache file as read: its entries (null when absent, foreign or damaged) and identity. */
interface Read {
  blob: Blob | null;
  /** inode, size and mtime, or '' when there was no file: tells whether it was replaced since. */
  identity: string;
}

class Store {
  readonly loaded: Loaded[] = [];
  hits = 0;
  misses = 0;
  #read: Read | undefined;
  #savedStartedUp: boolean | undefined;

  constructor(readonly root: string, readonly dir: string, readonly file: string, readonly key: string) {}

  /** The cached data for `rel` whose source hashed to `hash`, if any. */
  lookup(rel: string, hash: string): Buffer | undefined {
    this.#read ??= readBlob(this.file, this.key);
    return this.#read.blob?.entries.get(`${rel}\0${hash}`);
  }

  /** Whether a new file is due: a module had no usable data, or this process went further. */
  get stale(): boolean {
    if (this.#savedStartedUp !== undefined) return startedUp && !this.#savedStartedUp;
    return this.misses > 0 || (startedUp && this.#read?.blob?.startedUp !== true);
  }

  /** Writes this process's code of the store's modules, unless another process wrote as much meanwhile. */
  save(): void {
    this.#savedStartedUp = startedUp;
    const now = readBlob(this.file, this.key);
    if (now.identity !== (this.#read?.identity ?? '') && now.blob && (now.blob.startedUp || !startedUp)) return;
    const parts: Buffer[] = [];
    const entries: Array<[string, string, number, number]> = [];
    let offset = 0;
    for (const m of this.loaded) {
      const data = m.script.createCachedData();
      entries.push([m.rel, m.hash, offset, data.length]);
      parts.push(data);
      offset += data.length;
    }
    const header = Buffer.from(JSON.stringify({ key: this.key, startedUp, entries }));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(header.length);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(this.dir);
    if (!st.isDirectory() || !ownedSafely(st)) return;
    const temp = `${this.file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    try {
      fs.writeFileSync(temp, Buffer.concat([Buffer.from(MAGIC), length, header, ...parts]), { mode: 0o600, flag: 'wx' });
      fs.renameSync(temp, this.file);
    } finally {
      fs.rmSync(temp, { force: true });
    }
    pruneOldest(this.dir, this.file);
  }
}

const stores = new Map<string, Store>();
const ours = new WeakSet<NodeJS.Module>();
let startedUp = false;
let exitHook = false;
let saveTimer: NodeJS.Timeout | undefined;

/** Most files kept in the directory (one per package, Node binary and command line). */
const MAX_FILES = 32;

/** Removes the least recently written cache files beyond MAX_FILES (never `keep`). */
function pruneOldest(dir: string, keep: string): void {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.v8cache')).map((f) => path.join(dir, f));
  if (files.length <= MAX_FILES) return;
  const aged = files.filter((f) => f !== keep).map((f) => ({ f, t: fs.statSync(f).mtimeMs })).sort((a, b) => a.t - b.t);
  for (const { f } of aged.slice(0, files.length - MAX_FILES)) fs.rmSync(f, { force: true });
}

/** A file only this user can have written: ours, not writable by group or others. */
function ownedSafely(st: fs.Stats): boolean {
  return st.uid === process.geteuid?.() && (st.mode & 0o022) === 0;
}

/** The cache file's entries when it is ours, intact and made for `key`. */
function readBlob(file: string, key: string): Read {
  let fd: number | undefined;
  let identity = '';
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    const st = fs.fstatSync(fd);
    identity = `${st.ino}:${st.size}:${st.mtimeMs}`;
    return { blob: parseBlob(fd, st, key), identity };
  } catch {
    return { blob: null, identity };
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function parseBlob(fd: number, st: fs.Stats, key: string): Blob | null {
  if (!st.isFile() || !ownedSafely(st) || st.size > MAX_FILE_BYTES || st.size < MAGIC.length + 4) return null;
  const bytes = Buffer.allocUnsafe(st.size);
  let got = 0;
  while (got < st.size) {
    const n = fs.readSync(fd, bytes, got, st.size - got, got);
    if (n === 0) return null;
    got += n;
  }
  if (bytes.toString('latin1', 0, MAGIC.length) !== MAGIC) return null;
  const headerEnd = MAGIC.length + 4 + bytes.readUInt32LE(MAGIC.length);
  if (headerEnd > bytes.length) return null;
  const header = JSON.parse(bytes.toString('utf8', MAGIC.length + 4, headerEnd)) as { key?: unknown; startedUp?: unknown; entries?: unknown };
  if (header.key !== key || !Array.isArray(header.entries)) return null;
  const entries = new Map<string, Buffer>();
  for (const e of header.entries as unknown[]) {
    if (!Array.isArray(e) || e.length !== 4) return null;
    const [rel, hash, offset, length] = e as [unknown, unknown, unknown, unknown];
    if (typeof rel !== 'string' || typeof hash !== 'string' || !Number.isSafeInteger(offset) || !Number.isSafeInteger(length)) return null;
    const start = headerEnd + (offset as number);
    if ((offset as number) < 0 || (length as number) < 0 || start + (length as number) > bytes.length) return null;
    entries.set(`${rel}\0${hash}`, bytes.subarray(start, start + (length as number)));
  }
  return { startedUp: header.startedUp === true, entries };
}

/**
 * The directory of the cache files, or undefined when the cache is off or has no home.
 *
 * @example
 * codeCacheDirectory(); // '/root/.cache/bpf-sync-timer/v8' for root
 */
export function codeCacheDirectory(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const setting = env[CODE_CACHE_ENV];
  if (setting !== undefined && /^(0|off|false|no)$/i.test(setting.trim())) return undefined;
  if (setting) return path.isAbsolute(setting) ? setting : undefined;
  // Root ignores XDG_CACHE_HOME and HOME: under `sudo -E` they name the invoking user's home,
  // where root's files would be in the way.
  const root = process.geteuid?.() === 0;
  const xdg = env.XDG_CACHE_HOME;
  if (!root && xdg && path.isAbsolute(xdg)) return path.join(xdg, 'bpf-sync-timer', 'v8');
  let home: string;
  try {
    home = root ? os.userInfo().homedir : os.homedir();
  } catch {
    return undefined;
  }
  return home && path.isAbsolute(home) ? path.join(home, '.cache', 'bpf-sync-timer', 'v8') : undefined;
}

/** Why Node's own loader must load the modules (source maps, policies, coverage), or undefined. */
function needsNodeLoader(): boolean {
  if ((process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled) return true;
  if (process.env.NODE_V8_COVERAGE || process.env.NYC_CONFIG) return true;
  return NODE_LOADER_OPTIONS.test(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`);
}

// Options whose value is code (`node -e '...'`): the code sets no V8 flag, and one file per
// script would pile up.
const CODE_OPTIONS = new Set(['-e', '--eval', '-p', '--print']);

/** Node's options as they bear on V8's flags: code given on the command line left out. */
function commandLine(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i];
    const name = a.split('=', 1)[0];
    if (CODE_OPTIONS.has(name)) {
      out.push(name);
      if (!a.includes('=')) i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

function storeFor(root: string): Store | undefined {
  let store = stores.get(root);
  if (store) return store;
  const dir = codeCacheDirectory();
  if (dir === undefined || process.geteuid === undefined) return undefined;
  // One file per package directory, Node binary and command line: V8 refuses data made
  // under other flags, and two command lines must not keep replacing each other's file.
  const key = JSON.stringify([root, process.execPath, process.version, process.arch, commandLine(process.execArgv), process.env.NODE_OPTIONS ?? '']);
  const name = crypto.createHash('sha256').update(key).digest('hex').slice(0, 32);
  store = new Store(root, dir, path.join(dir, `${name}.v8cache`), key);
  stores.set(root, store);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', saveStores);
  }
  return store;
}

function saveStores(): void {
  for (const store of stores.values()) {
    try {
      if (store.loaded.length > 0 && store.stale) store.save();
    } catch {
      // a cache that cannot be written is a cache that is not there
    }
  }
}

/**
 * Tells the code cache that this process's start-up has run (its functions are compiled):
 * when a cache file is missing or stale, it is written right after the current event-loop
 * turn (a few ms, once per Node binary, command line and package build), instead of only at
 * exit, which a process ended by a signal never reaches. `SyncTimer.start` calls it.
 *
 * @example
 * const object = BpfObject.open('probe.bpf.o').load();
 * codeCacheCheckpoint(); // a daemon's start-up is done
 */
export function codeCacheCheckpoint(): void {
  startedUp = true;
  if (saveTimer !== undefined || ![...stores.values()].some((s) => s.stale)) return;
  saveTimer = setTimeout(() => {
    saveTimer = undefined;
    saveStores();
  }, 0);
  saveTimer.unref();
}

/**
 * The source's hash, which ties cached data to the exact bytes it was made from (V8 itself
 * checks only the length); undefined when no hash can be had (a FIPS-restricted OpenSSL).
 */
function sourceHash(content: string): string | undefined {
  try {
    return crypto.createHash('sha256').update(content).digest('base64');
  } catch {
    return undefined;
  }
}

/** Loads `file` (a module of the store's directory) from the cache, compiling what is missing. */
function loadModule(store: Store, file: string, parent: NodeJS.Module): unknown {
  const known = require.cache[file];
  // A module of ours (loaded, or loading: a require cycle) as Node would hand it out; any
  // other entry is Node's to resolve (one the ES module loader put there before loading it).
  if (known) return ours.has(known) ? known.exports : Module.prototype.require.call(parent, file);
  const content = fs.readFileSync(file, 'utf8');
  // A hashbang or a byte-order mark: left to Node, which knows what to strip.
  if (content.startsWith('#!') || content.charCodeAt(0) === 0xfeff) return Module.prototype.require.call(parent, file);
  const mod = new NodeModule(file, parent);
  mod.filename = file;
  mod.paths = NodeModule._nodeModulePaths(path.dirname(file));
  mod.require = requireFor(store, mod);
  ours.add(mod);
  require.cache[file] = mod;
  let done = false;
  try {
    const rel = path.relative(store.root, file);
    const hash = sourceHash(content);
    const cachedData = hash === undefined ? undefined : store.lookup(rel, hash);
    const script = new vm.Script(WRAPPER_HEAD + content + WRAPPER_TAIL, { filename: file, cachedData });
    if (cachedData !== undefined && !script.cachedDataRejected) store.hits++;
    else store.misses++;
    if (hash !== undefined) store.loaded.push({ rel, hash, script });
    const base = Module.createRequire(file);
    const localRequire = Object.assign((id: string) => mod.require(id), { resolve: base.resolve, cache: base.cache, extensions: base.extensions, main: base.main });
    (script.runInThisContext() as (...args: unknown[]) => void).call(mod.exports, mod.exports, localRequire, mod, file, path.dirname(file));
    done = true;
  } finally {
    if (!done) {
      // as Node does: a module that threw is not cached, nor its parent's child
      delete require.cache[file];
      const i = parent.children?.indexOf(mod) ?? -1;
      if (i >= 0) parent.children.splice(i, 1);
    }
  }
  mod.loaded = true;
  return mod.exports;
}

/** `module.require` for a module of `store`: its own relative requires from the cache. */
function requireFor(store: Store, mod: NodeJS.Module): NodeJS.Module['require'] {
  const prefix = store.root + path.sep;
  return ((id: string) => {
    if (typeof id === 'string' && (id.startsWith('./') || id.startsWith('../'))) {
      const file = NodeModule._resolveFilename(id, mod, false);
      if (file.startsWith(prefix) && file.endsWith('.js')) return loadModule(store, file, mod);
    }
    return Module.prototype.require.call(mod, id);
  }) as NodeJS.Module['require'];
}

/**
 * Makes the modules that `mod` requires by relative path inside its own directory, and the
 * ones they require so in turn, load through a V8 code cache: their bytecode, functions
 * compiled on first call included, is written at process exit to a file in the user's cache
 * directory (see `CODE_CACHE_ENV`) and taken from there by the next process with the same
 * Node binary and command line, instead of compiling them again. A package's entry calls it
 * first, with its own `module`. Does nothing under source maps, policies or coverage tools,
 * outside Node's CommonJS loader (bundlers, jest) or when the cache is off; any failure to
 * read or write the cache leaves the modules compiled by V8 as without it.
 *
 * @example
 * // the first lines of a package's index.ts
 * import { useCodeCache } from '@bpf-sync-timer/libbpf';
 * useCodeCache(module);
 */
export function useCodeCache(mod: NodeJS.Module): void {
  try {
    if (!(mod instanceof Module) || require.cache[mod.filename] !== mod || needsNodeLoader()) return;
    const store = storeFor(path.dirname(mod.filename));
    if (store) mod.require = requireFor(store, mod);
  } catch {
    // the modules load as they would without a cache
  }
}

/**
 * What the cache of `mod`'s directory did in this process: its file, and how many modules
 * came from it.
 *
 * @example
 * const { hits, misses } = codeCacheStats(require.cache[require.resolve('bpf-sync-timer')]!);
 */
export function codeCacheStats(mod: NodeJS.Module): CodeCacheStats {
  const store = stores.get(path.dirname(mod.filename));
  return { file: store?.file, hits: store?.hits ?? 0, misses: store?.misses ?? 0 };
}
