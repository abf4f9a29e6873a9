// Subscribers: ids (bits 0..63 of the trigger mask) and the objects SyncTimer.subscribe joins
// to a timer. Only type imports from the binding here: the CLI's argument parsing imports this
// module and must run without the native addon (test/unit/cli-no-addon.test.ts).
import type { BpfLink, BpfMap, BpfObject, GlobalSection, GlobalVar, OpenBpfObject, OpenMap } from '@bpf-sync-timer/libbpf';
import { SyncTimerError } from './errors';

/** How many subscribers one timer serves (bits in trigger_mask). */
export const MAX_SUBSCRIBERS = 64;

/** Hands out the lowest free id; ids can be given back. */
export class IdAllocator {
  #used = 0n;

  /** Takes the lowest free id (0..63); IDS_EXHAUSTED when all 64 are taken. */
  assign(): number {
    for (let id = 0; id < MAX_SUBSCRIBERS; id++) {
      const bit = 1n << BigInt(id);
      if ((this.#used & bit) === 0n) {
        this.#used |= bit;
        return id;
      }
    }
    throw new SyncTimerError('IDS_EXHAUSTED', `all ${MAX_SUBSCRIBERS} subscriber ids are assigned; releaseId() one first`);
  }

  /** Gives an id back. INVALID_ID when out of range, ID_NOT_ASSIGNED when not taken. */
  release(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= MAX_SUBSCRIBERS) {
      throw new SyncTimerError('INVALID_ID', `subscriber id must be an integer in 0..${MAX_SUBSCRIBERS - 1}, got ${String(id)}`);
    }
    const bit = 1n << BigInt(id);
    if ((this.#used & bit) === 0n) throw new SyncTimerError('ID_NOT_ASSIGNED', `subscriber id ${id} is not assigned`);
    this.#used &= ~bit;
  }

  /** Ids currently assigned, ascending. */
  get assigned(): number[] {
    const out: number[] = [];
    for (let id = 0; id < MAX_SUBSCRIBERS; id++) if (this.#used & (1n << BigInt(id))) out.push(id);
    return out;
  }
}

/** Options of `SyncTimer.subscribe`; any other name is refused with INVALID_OPTION. */
export interface SubscribeOptions {
  /**
   * C name of the global that holds the subscriber id (default `my_sync_timer_id`). In
   * `.rodata` (`const volatile __u64 id;`) it is set before load, in `.bss` or `.data`
   * (`volatile __u64 id;`, with or without an initializer) after load, before attaching.
   */
  idVariable?: string;
  /** C name of the object's map that shares the timer's bitmap (default `sync_timer_bitmap`). */
  mapName?: string;
  /**
   * Attach every program whose section names its attach point (default true). With false,
   * attach them yourself through `subscriber.object`; the id is set already.
   */
  attach?: boolean;
}

/** Defaults of `SubscribeOptions`. */
export const SUBSCRIBE_DEFAULTS = { idVariable: 'my_sync_timer_id', mapName: 'sync_timer_bitmap', attach: true } as const;

/** The section that holds a subscriber's id variable, which says when the id is set. */
export type IdSection = '.rodata' | '.data' | '.bss';

// In search order; `.rodata` is the only one set before load.
const ID_SECTIONS = [['.rodata', 'rodata'], ['.data', 'data'], ['.bss', 'bss']] as const;

type Globals = Pick<OpenBpfObject, 'name' | 'rodata' | 'data' | 'bss'>;

/**
 * Finds the id variable among an object's globals: its section and shape. INVALID_OPTION
 * naming the variable and the sections searched when none has it, or when it is no integer.
 */
export function findIdVariable(open: Globals, name: string): { section: IdSection; variable: GlobalVar } {
  const seen: string[] = [];
  for (const [section, property] of ID_SECTIONS) {
    const globals: GlobalSection = open[property];
    if (!globals.names.includes(name)) {
      if (globals.names.length) seen.push(`${section}: ${globals.names.join(', ')}`);
      continue;
    }
    const variable = globals.describe(name);
    if (variable.kind !== 'int') {
      throw new SyncTimerError('INVALID_OPTION', `the id variable '${name}' in ${section} of BPF object '${open.name}' is a ${variable.typeName}; ` +
        `it must be an integer (const volatile __u64 ${name}; or volatile __u64 ${name};)`);
    }
    return { section, variable };
  }
  throw new SyncTimerError('INVALID_OPTION', `no global variable '${name}' in .rodata, .data or .bss of BPF object '${open.name}' ` +
    `(${seen.length ? `globals there: ${seen.join('; ')}` : 'it has no globals there'}): declare it as ` +
    `\`const volatile __u64 ${name};\` (set before load) or \`volatile __u64 ${name};\` (set after load), or pass options.idVariable`);
}

/** The shape of the timer's bitmap map, against which a subscriber's map is checked. */
export type BitmapMap = Pick<BpfMap, 'fd' | 'typeName' | 'keySize' | 'valueSize' | 'maxEntries'>;

/**
 * Makes the object's map `mapName` share the timer's bitmap (libbpf dups the fd). Its
 * declaration must have the bitmap's shape (SYNC_TIMER_BITMAP_MAP): reuse takes the shape
 * from the fd, so a different one would only show later, as wrong reads in the programs.
 */
export function shareBitmap(open: Pick<OpenBpfObject, 'name' | 'map' | 'maps'>, mapName: string, bitmap: BitmapMap): void {
  let map: OpenMap;
  try {
    map = open.map(mapName);
  } catch (e) {
    const known = open.maps.map((m) => m.name).filter((n) => !n.includes('.'));
    throw new SyncTimerError('INVALID_OPTION', `BPF object '${open.name}' has no map '${mapName}' to share the timer's bitmap ` +
      `(maps: ${known.join(', ') || 'none'}): declare it with SYNC_TIMER_BITMAP_MAP(${mapName}) or pass options.mapName`, { cause: e });
  }
  const shape = (m: Omit<BitmapMap, 'fd'>) => `${m.typeName} (key ${m.keySize} B, value ${m.valueSize} B, ${m.maxEntries} entries)`;
  if (shape(map) !== shape(bitmap)) {
    throw new SyncTimerError('INVALID_OPTION', `map '${mapName}' of BPF object '${open.name}' is a ${shape(map)}, the timer's bitmap ` +
      `a ${shape(bitmap)}: declare it with SYNC_TIMER_BITMAP_MAP(${mapName})`);
  }
  map.reuseFd(bitmap.fd);
}

/** What `subscribe` needs of its timer. @internal */
export interface SubscriberHost {
  readonly ids: IdAllocator;
  /** The timer's bitmap map (throws CLOSED when the timer is closed). */
  bitmap(): BitmapMap;
  /** The live subscribers: added by `subscribe`, removed by their `close()`. */
  readonly live: Set<Subscriber>;
}

/**
 * A subscriber object joined to a SyncTimer by `timer.subscribe`: loaded, its id set, its
 * programs attached (unless `attach: false`). `close()` closes the object and gives the id
 * back; `SyncTimer.close()` closes the subscribers still open.
 */
export class Subscriber {
  /** The loaded object: read its maps and globals here; close the Subscriber, not it, to give the id back. */
  readonly object: BpfObject;
  /** The subscriber id (0..63) in the object's id variable. */
  readonly id: number;
  /** Where the id variable lives: `.rodata` (set before load), `.data` or `.bss` (after load). */
  readonly idSection: IdSection;
  /** The links `attach` made (empty with `attach: false`); closing the object destroys them. */
  readonly links: readonly BpfLink[];
  #onClose: (() => void) | undefined;

  /** @internal made by `SyncTimer.subscribe` */
  constructor(object: BpfObject, id: number, idSection: IdSection, links: BpfLink[], onClose: () => void) {
    this.object = object;
    this.id = id;
    this.idSection = idSection;
    this.links = Object.freeze([...links]);
    this.#onClose = onClose;
  }

  /** False once closed (by `close()` or by its timer's). */
  get open(): boolean {
    return this.#onClose !== undefined;
  }

  /** Detaches and closes the object, then gives the id back. Idempotent. */
  close(): void {
    const onClose = this.#onClose;
    if (!onClose) return;
    this.#onClose = undefined;
    try {
      this.object.close();
    } finally {
      onClose();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * SyncTimer.subscribe's steps, in the order the kernel needs them: check, share the bitmap,
 * take an id, set it (`.rodata`: before load), load, set it (`.data`/`.bss`: after load),
 * attach. On any failure `open` or what was loaded from it is closed and the id given back.
 * @internal
 */
export function subscribeObject(host: SubscriberHost, open: OpenBpfObject, options: SubscribeOptions, checkNames: (options: unknown) => void): Subscriber {
  if (!open || typeof open.load !== 'function' || typeof open.map !== 'function') {
    throw new SyncTimerError('INVALID_OPTION', 'subscribe takes an OpenBpfObject (BpfObject.open(path)), not yet loaded');
  }
  let id: number | undefined;
  let object: BpfObject | undefined;
  try {
    checkNames(options);
    const { idVariable, mapName, attach } = checkValues(options ?? {});
    const bitmap = host.bitmap();
    const { section } = findIdVariable(open, idVariable);
    shareBitmap(open, mapName, bitmap);
    id = host.ids.assign();
    if (section === '.rodata') open.rodata.set(idVariable, id);
    object = load(open);
    if (section === '.data') object.data.set(idVariable, id);
    if (section === '.bss') object.bss.set(idVariable, id);
    const links = attach ? attachAll(object) : [];
    const taken = id;
    const sub: Subscriber = new Subscriber(object, taken, section, links, () => {
      host.live.delete(sub);
      host.ids.release(taken);
    });
    host.live.add(sub);
    return sub;
  } catch (e) {
    closeQuietly(object ?? open);
    if (id !== undefined) host.ids.release(id);
    throw e;
  }
}

function checkValues(o: SubscribeOptions): Required<SubscribeOptions> {
  const name = (key: 'idVariable' | 'mapName') => {
    const v = o[key] ?? SUBSCRIBE_DEFAULTS[key];
    if (typeof v !== 'string' || v === '') throw new SyncTimerError('INVALID_OPTION', `options.${key} must be a non-empty string (a C name), got ${describe(v)}`);
    return v;
  };
  const attach = o.attach ?? SUBSCRIBE_DEFAULTS.attach;
  if (typeof attach !== 'boolean') throw new SyncTimerError('INVALID_OPTION', `options.attach must be true or false, got ${describe(attach)}`);
  return { idVariable: name('idVariable'), mapName: name('mapName'), attach };
}

function describe(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : v === null ? 'null' : typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function load(open: OpenBpfObject): BpfObject {
  try {
    return open.load();
  } catch (e) {
    throw new SyncTimerError('LOAD_FAILED', `loading subscriber '${open.name}' failed: ${(e as Error).message}`, { cause: e, errno: (e as { errno?: number }).errno });
  }
}

// The binding's attach errors (a BpfError naming the program, with a hint for E2BIG and
// ENOENT) pass through unchanged.
function attachAll(object: BpfObject): BpfLink[] {
  const links = object.attachAll();
  if (links.length === 0) {
    throw new SyncTimerError('INVALID_OPTION', `no program of BPF object '${object.name}' names its attach point in its section ` +
      `(SEC("tracepoint/timer/hrtimer_expire_exit"), SEC("tp_btf/hrtimer_expire_exit"), ...): pass attach: false and attach them yourself`);
  }
  return links;
}

function closeQuietly(o: { close(): void }): void {
  try {
    o.close();
  } catch {
    // the original error is the one to report
  }
}
