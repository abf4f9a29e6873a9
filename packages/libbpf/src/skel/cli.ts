// The `bpf-skel` command: generateSkeleton for the shell. Loads no native addon, so it
// runs on any machine with Node, without root (a build step, like bpftool gen skeleton).
import * as fs from 'node:fs';
import { BpfArgumentError, BpfError } from '../errors';
import { nearest } from '../options';
import { generateSkeleton, type SkeletonOptions } from './generate';

export const USAGE = `usage: bpf-skel <object.bpf.o> [options]

Writes a TypeScript module from a BPF object's BTF: a type and a codec for every named
struct, union and enum, and open()/load() with typed globals, maps and programs.
The object may also be raw BTF (e.g. /sys/kernel/btf/vmlinux): types and codecs only.

options:
  -o, --output FILE        write the module to FILE (default: standard output)
  --name NAME              skeleton name: open() gives Open<Name>, load() <Name>
                           (default: the object's file name up to its first dot)
  --embed                  put the object's bytes into the module (one file to ship)
  --object-path PATH       where open() finds the object when not embedded
                           (default: the path given, as given)
  --strings LIST           byte arrays to decode as strings, comma-separated:
                           type.field, field (any struct, or a global), or * (every char array)
  --record MAP=TYPE        record type of a ring or perf buffer map, e.g. events=event
                           (repeatable, or comma-separated)
  --types LIST             only these named types (and what they contain), comma-separated
  -h, --help               show this help
`;

const FLAGS = ['-o', '--output', '--name', '--embed', '--object-path', '--strings', '--record', '--types', '-h', '--help'];

class UsageError extends Error {}

/** Parses the command line into the object path, the output file and generator options. */
export function parseArgs(argv: readonly string[]): { help: true } | { help: false; object: string; output: string | undefined; options: SkeletonOptions } {
  const options: SkeletonOptions = {};
  const records: Record<string, string> = {};
  let object: string | undefined;
  let output: string | undefined;
  const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || (v.startsWith('-') && v !== '-')) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-h': case '--help': return { help: true };
      case '-o': case '--output': output = value(); break;
      case '--name': options.name = value(); break;
      case '--embed':
        if (eq > 0) throw new UsageError('--embed takes no value');
        options.embed = true;
        break;
      case '--object-path': options.objectPath = value(); break;
      case '--strings': options.strings = [...(options.strings ?? []), ...list(value())]; break;
      case '--types': options.types = [...(options.types ?? []), ...list(value())]; break;
      case '--record':
        for (const r of list(value())) {
          const m = /^([^=]+)=(.+)$/.exec(r);
          if (!m) throw new UsageError(`--record wants MAP=TYPE (e.g. events=event), got '${r}'`);
          records[m[1].trim()] = m[2].trim();
        }
        break;
      default:
        if (arg.startsWith('-') && arg !== '-') {
          const near = nearest(flag, FLAGS);
          throw new UsageError(`unknown option '${flag}'${near ? ` (did you mean '${near}'?)` : ''}`);
        }
        if (object !== undefined) throw new UsageError(`one object at a time: got '${object}' and '${arg}'`);
        object = arg;
    }
  }
  if (object === undefined) throw new UsageError('no object given');
  if (Object.keys(records).length) options.records = records;
  return { help: false, object, output, options };
}

/** Runs the command; returns the exit code (0 ok, 1 failed, 2 bad usage). */
export function main(argv: readonly string[], io: { out: (s: string) => void; err: (s: string) => void } = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
}): number {
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`bpf-skel: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (parsed.help) {
    io.out(USAGE);
    return 0;
  }
  try {
    if (!fs.existsSync(parsed.object)) throw new BpfArgumentError('object', `no file at ${parsed.object}`);
    const text = generateSkeleton(parsed.object, parsed.options);
    if (parsed.output === undefined) io.out(text);
    else fs.writeFileSync(parsed.output, text);
    return 0;
  } catch (e) {
    if (e instanceof BpfError || e instanceof BpfArgumentError || typeof (e as NodeJS.ErrnoException | null)?.code === 'string') {
      io.err(`bpf-skel: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}
