// SyncTimer.subscribe's steps (src/subscribers.ts) over a fake open object that records what
// is done to it: the order (id before load for .rodata, after load for .data/.bss, then
// attach), the errors, and that every failure closes what was made and gives the id back.
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { OpenBpfObject } from '@bpf-sync-timer/libbpf';
import { SyncTimerError } from '../../src/errors';
import { findIdVariable, IdAllocator, subscribeObject, type SubscribeOptions, type Subscriber, type SubscriberHost } from '../../src/subscribers';

type Kind = 'int' | 'bool' | 'bytes';
interface FakeSpec {
  name?: string;
  rodata?: Record<string, Kind>;
  data?: Record<string, Kind>;
  bss?: Record<string, Kind>;
  maps?: Record<string, { typeName: string; keySize: number; valueSize: number; maxEntries: number }>;
  loadError?: Error;
  attachError?: Error;
  links?: number;
}

const BITMAP = { typeName: 'BPF_MAP_TYPE_PERCPU_ARRAY', keySize: 4, valueSize: 56, maxEntries: 1 };

/** A fake OpenBpfObject (and the BpfObject its load() gives) that logs every step. */
function fake(spec: FakeSpec = {}) {
  const log: string[] = [];
  const name = spec.name ?? 'sub';
  const maps = spec.maps ?? { sync_timer_bitmap: BITMAP, hits: { ...BITMAP, valueSize: 8 } };
  let phase: 'open' | 'loaded' | 'closed' = 'open';
  const section = (sec: string, vars: Record<string, Kind> = {}, when: 'open' | 'loaded') => ({
    section: sec,
    names: Object.keys(vars),
    describe: (v: string) => ({ name: v, offset: 0, size: 8, kind: vars[v], signed: false, typeName: vars[v] === 'int' ? '__u64' : 'struct thing' }),
    set: (v: string, value: unknown) => {
      assert.equal(phase, when, `${sec}.set in phase ${phase}`);
      log.push(`${when === 'open' ? '' : 'loaded '}${sec}.set ${v}=${String(value)}`);
    },
  });
  const object = {
    name,
    get open() { return phase === 'loaded'; },
    data: section('.data', spec.data, 'loaded'),
    bss: section('.bss', spec.bss, 'loaded'),
    attachAll: () => {
      log.push('attachAll');
      if (spec.attachError) throw spec.attachError;
      return Array.from({ length: spec.links ?? 1 }, (_, i) => ({ target: `link${i}`, attached: true }));
    },
    close: () => {
      if (phase === 'loaded') log.push('close object');
      phase = 'closed';
    },
  };
  const open = {
    name,
    rodata: section('.rodata', spec.rodata, 'open'),
    data: section('.data', spec.data, 'open'),
    bss: section('.bss', spec.bss, 'open'),
    get maps() { return [...Object.keys(maps), `${name}.rodata`].map((n) => ({ name: n })); },
    map: (m: string) => {
      if (!maps[m]) throw new Error(`no map named '${m}'`);
      return { ...maps[m], reuseFd: (fd: number) => log.push(`reuseFd ${m} ${fd}`) };
    },
    load: () => {
      log.push('load');
      if (spec.loadError) {
        phase = 'closed'; // a failed load() closes the object
        throw spec.loadError;
      }
      phase = 'loaded';
      return object;
    },
    close: () => {
      if (phase === 'open') log.push('close open');
      if (phase === 'open') phase = 'closed';
    },
  };
  return { open: open as unknown as OpenBpfObject, log, phase: () => phase };
}

function host(): SubscriberHost & { ids: IdAllocator; live: Set<Subscriber> } {
  return { ids: new IdAllocator(), live: new Set(), bitmap: () => ({ fd: 7, ...BITMAP }) };
}

const noNames = () => {};
const code = (c: string, message?: RegExp) => (e: unknown) => e instanceof SyncTimerError && e.code === c && (!message || message.test(e.message));

describe('subscribe: the steps in order', () => {
  it('.rodata: share the bitmap, set the id before load, load, attach', () => {
    const h = host();
    const f = fake({ rodata: { my_sync_timer_id: 'int' } });
    const sub = subscribeObject(h, f.open, {}, noNames);
    assert.deepEqual(f.log, ['reuseFd sync_timer_bitmap 7', '.rodata.set my_sync_timer_id=0', 'load', 'attachAll']);
    assert.equal(sub.id, 0);
    assert.equal(sub.idSection, '.rodata');
    assert.equal(sub.links.length, 1);
    assert.deepEqual([...h.live], [sub]);
    assert.deepEqual(h.ids.assigned, [0]);
  });

  for (const sec of ['data', 'bss'] as const) {
    it(`.${sec}: load first, then set the id, then attach`, () => {
      const h = host();
      h.ids.assign();
      const f = fake({ [sec]: { sid: 'int' }, maps: { bitmap2: BITMAP } });
      const sub = subscribeObject(h, f.open, { idVariable: 'sid', mapName: 'bitmap2' }, noNames);
      assert.deepEqual(f.log, ['reuseFd bitmap2 7', 'load', `loaded .${sec}.set sid=1`, 'attachAll']);
      assert.equal(sub.idSection, `.${sec}`);
      assert.equal(sub.id, 1);
    });
  }

  it('attach: false skips attachAll and has no links', () => {
    const f = fake({ bss: { my_sync_timer_id: 'int' } });
    const sub = subscribeObject(host(), f.open, { attach: false }, noNames);
    assert.deepEqual(f.log, ['reuseFd sync_timer_bitmap 7', 'load', 'loaded .bss.set my_sync_timer_id=0']);
    assert.deepEqual(sub.links, []);
  });

  it('close() closes the object and gives the id back, once', () => {
    const h = host();
    const f = fake({ rodata: { my_sync_timer_id: 'int' } });
    const sub = subscribeObject(h, f.open, {}, noNames);
    sub.close();
    sub[Symbol.dispose]();
    assert.equal(f.log.filter((l) => l === 'close object').length, 1);
    assert.equal(sub.open, false);
    assert.deepEqual(h.ids.assigned, []);
    assert.equal(h.live.size, 0);
  });

  it('close() gives the id back even when closing the object throws', () => {
    const h = host();
    const sub = subscribeObject(h, fake({ rodata: { my_sync_timer_id: 'int' } }).open, {}, noNames);
    (sub.object as unknown as { close(): void }).close = () => {
      throw new Error('boom');
    };
    assert.throws(() => sub.close(), /boom/);
    assert.deepEqual(h.ids.assigned, []);
    sub.close();
  });

  it('64 subscribers live at once: the 65th is IDS_EXHAUSTED and its object closed; subscribe + close in a loop never runs out', () => {
    const h = host();
    const make = () => fake({ rodata: { my_sync_timer_id: 'int' } });
    const subs = Array.from({ length: 64 }, () => subscribeObject(h, make().open, {}, noNames));
    assert.deepEqual(subs.map((s) => s.id), Array.from({ length: 64 }, (_, i) => i));
    const f = make();
    assert.throws(() => subscribeObject(h, f.open, {}, noNames), code('IDS_EXHAUSTED'));
    assert.equal(f.phase(), 'closed');
    for (const s of subs) s.close();
    for (let i = 0; i < 200; i++) subscribeObject(h, make().open, {}, noNames).close();
    assert.deepEqual(h.ids.assigned, []);
  });
});

describe('subscribe: failures close what was made and give the id back', () => {
  it('a failed load: LOAD_FAILED with the cause; the id comes back', () => {
    const h = host();
    const cause = Object.assign(new Error("the verifier rejected program 'on_tick': R1 invalid mem access"), { errno: 13 });
    const f = fake({ rodata: { my_sync_timer_id: 'int' }, loadError: cause });
    assert.throws(() => subscribeObject(h, f.open, {}, noNames), (e: unknown) =>
      code('LOAD_FAILED', /loading subscriber 'sub' failed: the verifier rejected/)(e) && (e as Error).cause === cause && (e as SyncTimerError).errno === 13);
    assert.deepEqual(h.ids.assigned, []);
    assert.equal(h.live.size, 0);
    assert.equal(h.ids.assign(), 0);
  });

  it('a failed attach: the binding error as is; the loaded object closed; the id back', () => {
    const h = host();
    const err = new Error('attach tracepoint: ENOENT');
    const f = fake({ bss: { my_sync_timer_id: 'int' }, attachError: err });
    assert.throws(() => subscribeObject(h, f.open, {}, noNames), (e: unknown) => e === err);
    assert.equal(f.log.at(-1), 'close object');
    assert.deepEqual(h.ids.assigned, []);
    assert.equal(h.live.size, 0);
  });

  it('nothing to attach with attach: true is INVALID_OPTION, after which the object is closed', () => {
    const h = host();
    const f = fake({ rodata: { my_sync_timer_id: 'int' }, links: 0 });
    assert.throws(() => subscribeObject(h, f.open, {}, noNames), code('INVALID_OPTION', /no program of BPF object 'sub' names its attach point.*attach: false/));
    assert.equal(f.log.at(-1), 'close object');
    assert.deepEqual(h.ids.assigned, []);
  });

  it('unknown option names: the name check runs first, before the object is touched; the object is closed', () => {
    const h = host();
    const f = fake({ rodata: { my_sync_timer_id: 'int' } });
    const checkNames = (o: unknown) => {
      if (Object.keys(o as object).includes('idVarible')) throw new SyncTimerError('INVALID_OPTION', "unknown option 'idVarible'");
    };
    assert.throws(() => subscribeObject(h, f.open, { idVarible: 'x' } as SubscribeOptions, checkNames), code('INVALID_OPTION', /idVarible/));
    assert.deepEqual(f.log, ['close open']);
    assert.deepEqual(h.ids.assigned, []);
  });

  it('a closed timer (bitmap() throws CLOSED): no id, the object closed', () => {
    const h = host();
    h.bitmap = () => {
      throw new SyncTimerError('CLOSED', 'this SyncTimer is closed');
    };
    const f = fake({ rodata: { my_sync_timer_id: 'int' } });
    assert.throws(() => subscribeObject(h, f.open, {}, noNames), code('CLOSED'));
    assert.deepEqual(f.log, ['close open']);
  });

  const bad: [string, SubscribeOptions, RegExp][] = [
    ['an empty idVariable', { idVariable: '' }, /options\.idVariable must be a non-empty string/],
    ['a number as mapName', { mapName: 5 as unknown as string }, /options\.mapName must be a non-empty string .*number 5/],
    ['a string as attach', { attach: 'yes' as unknown as boolean }, /options\.attach must be true or false, got 'yes'/],
  ];
  for (const [what, options, message] of bad) {
    it(`${what} is INVALID_OPTION`, () => {
      const f = fake({ rodata: { my_sync_timer_id: 'int' } });
      assert.throws(() => subscribeObject(host(), f.open, options, noNames), code('INVALID_OPTION', message));
      assert.deepEqual(f.log, ['close open']);
    });
  }

  it('no such map, or a map of another shape: INVALID_OPTION naming it and SYNC_TIMER_BITMAP_MAP; no fd reused', () => {
    const f = fake({ rodata: { my_sync_timer_id: 'int' } });
    assert.throws(() => subscribeObject(host(), f.open, { mapName: 'nope' }, noNames),
      code('INVALID_OPTION', /BPF object 'sub' has no map 'nope' to share the timer's bitmap \(maps: sync_timer_bitmap, hits\): declare it with SYNC_TIMER_BITMAP_MAP\(nope\)/));
    const g = fake({ rodata: { my_sync_timer_id: 'int' } });
    assert.throws(() => subscribeObject(host(), g.open, { mapName: 'hits' }, noNames),
      code('INVALID_OPTION', /map 'hits' of BPF object 'sub' is a BPF_MAP_TYPE_PERCPU_ARRAY \(key 4 B, value 8 B, 1 entries\), the timer's bitmap a BPF_MAP_TYPE_PERCPU_ARRAY \(key 4 B, value 56 B, 1 entries\)/));
    assert.deepEqual(g.log, ['close open']);
  });

  it('not an open object: INVALID_OPTION', () => {
    assert.throws(() => subscribeObject(host(), {} as OpenBpfObject, {}, noNames), code('INVALID_OPTION', /takes an OpenBpfObject/));
  });
});

describe('findIdVariable', () => {
  it('finds the variable in .rodata, .data or .bss', () => {
    for (const sec of ['rodata', 'data', 'bss'] as const) {
      assert.equal(findIdVariable(fake({ [sec]: { id: 'int', other: 'int' } }).open, 'id').section, `.${sec}`);
    }
  });

  it('names the variable, the sections searched and the globals there when it is in none', () => {
    const f = fake({ rodata: { interval: 'int' }, bss: { count: 'int', seen: 'int' } });
    assert.throws(() => findIdVariable(f.open, 'my_id'), code('INVALID_OPTION',
      /^no global variable 'my_id' in \.rodata, \.data or \.bss of BPF object 'sub' \(globals there: \.rodata: interval; \.bss: count, seen\): declare it as `const volatile __u64 my_id;` \(set before load\) or `volatile __u64 my_id;` \(set after load\), or pass options\.idVariable$/));
    assert.throws(() => findIdVariable(fake().open, 'my_id'), code('INVALID_OPTION', /\(it has no globals there\)/));
  });

  it('refuses a variable that is no integer', () => {
    assert.throws(() => findIdVariable(fake({ data: { my_id: 'bytes' } }).open, 'my_id'),
      code('INVALID_OPTION', /the id variable 'my_id' in \.data of BPF object 'sub' is a struct thing; it must be an integer/));
    assert.throws(() => findIdVariable(fake({ data: { my_id: 'bool' } }).open, 'my_id'), code('INVALID_OPTION'));
  });
});
