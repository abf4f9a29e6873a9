// A child process of the fuzz test: rebuilds its batch of mutated objects from (seed, index),
// puts each through open, globals and load, and writes one JSON line per item to stdout
// before taking the next, so that when it dies the parent knows which items it finished.
// Replay a saved input by hand: node fuzz-child.js '{"files":["/path/to/input.bpf.o"]}'
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BpfArgumentError, BpfError, OpenBpfObject, setLogger, type BpfObject, type GlobalSection } from '../../src/index';
import { mapObject, mutate, planItem, type ObjectMap } from './fuzz-mutate';

/** What the parent sends (argv[2], JSON): a batch of planned items, or files to replay. */
export interface ChildSpec {
  seed?: number;
  bases?: string[];
  indices?: number[];
  files?: string[];
  /** Where by-path items are written (and removed after their open). */
  tmpDir?: string;
}

/** One failure: the phase it happened in, the error's class, and why it is not acceptable. */
export interface FailureRecord {
  stage: 'open' | 'globals' | 'load' | 'loaded';
  cls: string;
  message: string;
  /** Set when the error is untyped or its message unreadable. */
  bad?: string;
}

/** The outcome of one item, one JSON line. */
export interface ItemResult {
  index: number;
  openOk: boolean;
  loadOk: boolean;
  failures: FailureRecord[];
}

/** The last line of a batch: fds open before and after it (nothing may leak). */
export interface BatchEnd {
  done: true;
  fdsBefore: number;
  fdsAfter: number;
}

const UNREADABLE: Array<[RegExp, string]> = [
  [/Unknown error \d+/, 'an unnamed errno ("Unknown error NNNN")'],
  [/Error in native callback/, 'the generic N-API message'],
];

/** The class name of a binding error, or undefined when `e` is not one. */
export function typedClass(e: unknown): string | undefined {
  if (e instanceof BpfError || e instanceof BpfArgumentError) return e.constructor.name;
  return undefined;
}

/** Judges one thrown value: typed, with a message that says something. */
export function judge(stage: FailureRecord['stage'], e: unknown): FailureRecord {
  const message = e instanceof Error ? e.message : String(e);
  const cls = typedClass(e) ?? `untyped ${e instanceof Error ? e.constructor.name : typeof e}`;
  const rec: FailureRecord = { stage, cls, message: message.length > 400 ? `${message.slice(0, 400)}...` : message };
  if (!typedClass(e)) rec.bad = 'not a BpfError or BpfArgumentError';
  else if (message.trim() === '') rec.bad = 'empty message';
  else {
    for (const [re, why] of UNREADABLE) if (re.test(message)) rec.bad = why;
  }
  return rec;
}

const MAX_FAILURES_PER_ITEM = 6;

function attempt(failures: FailureRecord[], stage: FailureRecord['stage'], f: () => void): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (failures.length < MAX_FAILURES_PER_ITEM) failures.push(judge(stage, e));
    return false;
  }
}

/** Reads every global of a section and writes the same value back (when writable). */
function exerciseSection(failures: FailureRecord[], stage: FailureRecord['stage'], get: () => GlobalSection, write: boolean): void {
  let s: GlobalSection | undefined;
  if (!attempt(failures, stage, () => void (s = get()))) return;
  for (const name of s!.names) {
    attempt(failures, stage, () => {
      const v = s!.get(name);
      if (write) s!.set(name, v);
      s!.getBytes(name);
    });
  }
}

function exerciseOpen(failures: FailureRecord[], open: OpenBpfObject): void {
  attempt(failures, 'globals', () => {
    for (const m of open.maps) void `${m.name}${m.type}${m.valueSize}`;
    for (const p of open.programs) void `${p.name}${p.section}`;
  });
  exerciseSection(failures, 'globals', () => open.rodata, true);
  exerciseSection(failures, 'globals', () => open.data, true);
  exerciseSection(failures, 'globals', () => open.bss, true);
}

function exerciseLoaded(failures: FailureRecord[], obj: BpfObject): void {
  attempt(failures, 'loaded', () => {
    for (const m of obj.maps) void m.fd;
  });
  exerciseSection(failures, 'loaded', () => obj.rodata, false);
  exerciseSection(failures, 'loaded', () => obj.data, true);
  exerciseSection(failures, 'loaded', () => obj.bss, true);
}

/** Puts one object through open (by Buffer, or by path when `file` is given), globals and load. */
export function runOne(index: number, bytes: Buffer, file: string | undefined): ItemResult {
  const r: ItemResult = { index, openOk: false, loadOk: false, failures: [] };
  let open: OpenBpfObject | undefined;
  if (!attempt(r.failures, 'open', () => void (open = OpenBpfObject.open(file ?? bytes)))) return r;
  r.openOk = true;
  try {
    exerciseOpen(r.failures, open!);
    let obj: BpfObject | undefined;
    r.loadOk = attempt(r.failures, 'load', () => void (obj = open!.load()));
    if (obj) {
      try {
        exerciseLoaded(r.failures, obj);
      } finally {
        obj.close();
      }
    }
  } finally {
    open!.close();
  }
  return r;
}

function emit(line: ItemResult | BatchEnd): void {
  // Synchronous, so that the line is out before a crash in the next item.
  fs.writeSync(1, `${JSON.stringify(line)}\n`);
}

function countFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

function runPlanned(spec: Required<Pick<ChildSpec, 'seed' | 'bases' | 'indices'>> & ChildSpec): void {
  const bases = spec.bases.map((p) => fs.readFileSync(p));
  const maps: ObjectMap[] = bases.map((b) => mapObject(b));
  for (const index of spec.indices) {
    const item = planItem(index, bases.length);
    const bytes = mutate(spec.seed, item, bases[item.base], maps[item.base]);
    let file: string | undefined;
    if (item.byPath) {
      file = path.join(spec.tmpDir ?? fs.mkdtempSync('/tmp/bpf-fuzz-'), `item-${index}.bpf.o`);
      fs.writeFileSync(file, bytes);
    }
    try {
      emit(runOne(index, bytes, file));
    } finally {
      if (file) fs.rmSync(file, { force: true });
    }
  }
}

function main(): void {
  const spec = JSON.parse(process.argv[2] ?? '{}') as ChildSpec;
  // libbpf's complaints about the damage are expected; the errors carry what matters.
  setLogger(() => {});
  const fdsBefore = countFds();
  // A saved input is replayed both ways: by Buffer, then by path.
  if (spec.files) spec.files.forEach((f, i) => [undefined, f].forEach((by) => emit(runOne(i, fs.readFileSync(f), by))));
  else runPlanned(spec as Required<Pick<ChildSpec, 'seed' | 'bases' | 'indices'>> & ChildSpec);
  emit({ done: true, fdsBefore, fdsAfter: countFds() });
}

if (require.main === module) main();
