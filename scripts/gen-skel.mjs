#!/usr/bin/env node
// Generates the TypeScript skeletons (bpf-skel) of this repository's own BPF objects, so that
// the timer's ABI (stats, bitmap entry, init context, error codes, tick records) and the
// examples' records come from the objects' BTF and cannot drift from the C. Run by
// scripts/build.sh after the BPF objects and the libbpf package are built, before the
// TypeScript that imports the skeletons; `--package bpf-sync-timer` limits it to that
// package's own (its prepack). A skeleton is rewritten only when its text changes.
// The outputs (*.skel.ts) are build products, not committed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const timer = 'packages/bpf-sync-timer';

/** What is generated: object, output, package, bpf-skel options. */
const SKELETONS = [
  { object: `${timer}/dist/bpf/sync_timer.bpf.o`, out: `${timer}/src/abi/sync_timer.skel.ts`, pkg: 'bpf-sync-timer',
    options: { name: 'sync_timer', objectPath: 'sync_timer.bpf.o' } },
  { object: `${timer}/dist/bpf/tick_probe.bpf.o`, out: `${timer}/src/abi/tick_probe.skel.ts`, pkg: 'bpf-sync-timer',
    options: { name: 'tick_probe', objectPath: 'tick_probe.bpf.o', records: { records: 'struct tick_record' } } },
  { object: `${timer}/dist/bpf/collect.bpf.o`, out: `${timer}/src/abi/collect.skel.ts`, pkg: 'bpf-sync-timer',
    options: { name: 'collect', objectPath: 'collect.bpf.o', strings: ['collect_sample.comm'], records: { samples: 'struct collect_sample' } } },
  { object: 'examples/collector/obj/collector.bpf.o', out: 'examples/collector/collector.skel.ts', pkg: 'examples',
    options: { name: 'collector', objectPath: 'collector.bpf.o', strings: ['collector_record.comm'], records: { records: 'struct collector_record' } } },
  { object: 'examples/seed/obj/seed000.bpf.o', out: 'examples/seed/seed000.skel.ts', pkg: 'examples',
    options: { name: 'seed000', objectPath: 'seed000.bpf.o' } },
  { object: 'examples/seed/obj/seed001.bpf.o', out: 'examples/seed/seed001.skel.ts', pkg: 'examples',
    options: { name: 'seed001', objectPath: 'seed001.bpf.o' } },
];

function usage(message) {
  process.stderr.write(`gen-skel: ${message}\nusage: node scripts/gen-skel.mjs [--package bpf-sync-timer|examples]\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let only;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--package' && i + 1 < args.length) only = args[++i];
  else usage(`unknown argument '${args[i]}'`);
}
if (only !== undefined && !SKELETONS.some((s) => s.pkg === only)) usage(`unknown package '${only}'`);

const generator = path.join(root, 'packages/libbpf/dist/src/skel/generate.js');
if (!fs.existsSync(generator)) {
  process.stderr.write('gen-skel: packages/libbpf is not built (dist/src/skel/generate.js is missing): run `node_modules/.bin/tsc -b packages/libbpf` first\n');
  process.exit(1);
}
const { generateSkeleton } = createRequire(import.meta.url)(generator);

let written = 0;
for (const s of SKELETONS) {
  if (only !== undefined && s.pkg !== only) continue;
  const object = path.join(root, s.object);
  if (!fs.existsSync(object)) {
    process.stderr.write(`gen-skel: ${s.object} is missing: build the BPF objects first (bash scripts/build.sh)\n`);
    process.exit(1);
  }
  const text = generateSkeleton(object, s.options);
  const out = path.join(root, s.out);
  const old = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : undefined;
  if (old === text) continue;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, text);
  written++;
  process.stderr.write(`gen-skel: ${s.out} (from ${s.object})\n`);
}
if (written === 0) process.stderr.write('gen-skel: skeletons up to date\n');
