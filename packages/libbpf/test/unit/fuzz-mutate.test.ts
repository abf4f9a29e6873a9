// The fuzz test's mutations (test/support/fuzz-mutate.ts): the same (seed, index) gives the
// same bytes, so a failure replays; each kind damages the part of the object it is named for.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mapObject, MUTATION_KINDS, mutate, planItem, type FuzzItem, type MutationKind } from '../support/fuzz-mutate';

const BASIC = fs.readFileSync(path.resolve(__dirname, '../../../test/fixtures/obj/basic.bpf.o'));
const MAP = mapObject(BASIC);
const SEED = 12345;

/** Offsets at which `b` differs from `a` (same length). */
function changedBytes(a: Buffer, b: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

function items(kind: MutationKind, n: number): FuzzItem[] {
  return Array.from({ length: n }, (_, i) => ({ index: i, base: 0, kind, byPath: false }));
}

const inside = (s: { offset: number; size: number } | undefined) => (o: number) => !!s && o >= s.offset && o < s.offset + s.size;

describe('fuzz mutations', () => {
  it('are the same bytes for the same seed and index, and differ between indices', () => {
    for (const kind of MUTATION_KINDS) {
      const [a, b] = items(kind, 2);
      assert.deepEqual(mutate(SEED, a, BASIC, MAP), mutate(SEED, a, BASIC, MAP), kind);
      assert.notDeepEqual(mutate(SEED, a, BASIC, MAP), mutate(SEED, b, BASIC, MAP), kind);
    }
    assert.deepEqual(BASIC, fs.readFileSync(path.resolve(__dirname, '../../../test/fixtures/obj/basic.bpf.o')), 'the base is never changed');
  });

  it('plan every kind in turn, every base in turn, and one item in eight by path', () => {
    const plan = Array.from({ length: 96 }, (_, i) => planItem(i, 4));
    for (const kind of MUTATION_KINDS) assert.equal(plan.filter((p) => p.kind === kind).length, 16);
    for (let base = 0; base < 4; base++) assert.equal(plan.filter((p) => p.base === base).length, 24);
    assert.equal(plan.filter((p) => p.byPath).length, 12);
  });

  it('damage the part each kind is named for', () => {
    const shoff = MAP.shoff;
    const table = (o: number) => o < 64 || (o >= shoff && o < shoff + MAP.sections.length * MAP.shentsize);
    const btf = inside(MAP.btf);
    const btfExt = inside(MAP.btfExt);
    const relocs = (o: number) => MAP.rels.some((r) => inside(r)(o)) || inside(MAP.symtab)(o);
    const where: Record<Exclude<MutationKind, 'flip' | 'truncate'>, (o: number) => boolean> = {
      section: table, btf, 'btf-ext': btfExt, reloc: relocs,
    };
    for (const [kind, ok] of Object.entries(where) as Array<[MutationKind, (o: number) => boolean]>) {
      let changed = 0;
      for (const item of items(kind, 200)) {
        const diff = changedBytes(BASIC, mutate(SEED, item, BASIC, MAP));
        changed += diff.length > 0 ? 1 : 0;
        assert.deepEqual(diff.filter((o) => !ok(o)), [], `${kind} item ${item.index} changed bytes outside its part`);
      }
      // A few draws write the value that was already there; most must change something.
      assert.ok(changed >= 150, `${kind}: only ${changed} of 200 items changed the object`);
    }
    const cuts = items('truncate', 200).map((item) => mutate(SEED, item, BASIC, MAP).length);
    assert.ok(cuts.every((n) => n < BASIC.length), 'every truncation is shorter than the object');
  });
});
