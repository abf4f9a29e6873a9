// Every error path with its class, op and code: privileges (EPERM, in an unprivileged
// child), missing tracepoints (ENOENT), verifier rejections, non-ELF input, use after close.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import {
  BpfError, BpfObject, ClosedError, MapType, ProgramType, RingBuffer, UnsupportedFeatureError, VerifierError, runOnCpus,
  type OpenBpfObject,
} from '../../src/index';
import { kernelProbe } from '../../src/object';
import { args, captureLog, countFds, fixture, requireRoot } from './helpers';

requireRoot();

const INDEX = path.resolve(__dirname, '../../src/index.js');

/** Runs `script` (with `L` = the library) as uid/gid 65534 without capabilities; returns its JSON output. */
function runUnprivileged(script: string): Record<string, unknown> {
  const code = `const L = require(${JSON.stringify(INDEX)}); L.setLogger(() => {});\n${script}`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--', process.execPath, '-e', code],
    { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, `setpriv (util-linux) is needed for this test: ${r.error?.message}`);
  assert.equal(r.status, 0, `the unprivileged child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('BpfError with hints', () => {
  it('EPERM: loading without privileges is a BpfError with the privileges hint (not a missing feature)', () => {
    const out = runUnprivileged(`
      try { L.BpfObject.open(${JSON.stringify(fixture('basic'))}).load(); console.log(JSON.stringify({ loaded: true })); }
      catch (e) { console.log(JSON.stringify({ uid: process.getuid(), name: e.name, isBpfError: e instanceof L.BpfError,
        op: e.op, errno: e.errno, code: e.code, hint: e.hint, message: e.message })); }`);
    assert.equal(out.uid, 65534);
    assert.equal(out.name, 'BpfError');
    assert.equal(out.isBpfError, true);
    assert.equal(out.op, 'bpf_object__load');
    assert.equal(out.code, 'EPERM');
    assert.equal(out.errno, 1);
    assert.match(String(out.hint), /BPF needs root, or CAP_BPF and CAP_PERFMON/);
    assert.match(String(out.message), /Operation not permitted/);
  });

  it('ENOENT on a tracepoint that does not exist, by name or by section, with the tracefs hint', () => {
    using obj = BpfObject.open(fixture('probes')).load();
    const noSuchEvent = (op: string) => (e: unknown) => e instanceof BpfError && e.op === op && e.code === 'ENOENT' && e.errno === 2 &&
      /tracefs is not mounted .* or there is no such event/.test(e.hint ?? '');
    captureLog(() => {
      assert.throws(() => obj.program('present_tracepoint').attachTracepoint('syscalls', 'sys_enter_no_such_syscall'),
        noSuchEvent('bpf_program__attach_tracepoint'));
      assert.throws(() => obj.program('missing_tracepoint').attach(), (e: unknown) =>
        noSuchEvent('bpf_program__attach')(e) && /^attach tracepoint\/syscalls\/sys_enter_no_such_syscall failed/.test((e as Error).message));
    });
  });

  it('attachAll is all or nothing: the link made before the failure is destroyed', () => {
    using obj = BpfObject.open(fixture('probes')).load();
    const before = countFds();
    captureLog(() => assert.throws(() => obj.attachAll(), { name: 'BpfError', code: 'ENOENT' }));
    assert.equal(countFds(), before, 'no perf event or link fd is left open');
  });

  it('LIBBPF_ERRNO__FORMAT for bytes that are not an ELF object, ENOENT for a missing file', () => {
    captureLog(() => {
      assert.throws(() => BpfObject.open(Buffer.from('this is not an ELF file')), (e: unknown) =>
        e instanceof BpfError && e.op === 'bpf_object__open' && e.errno === 4001 && e.code === 'LIBBPF_ERRNO__FORMAT' &&
        /not a BPF ELF object/.test(e.hint ?? ''));
    });
    assert.throws(() => BpfObject.open('/no/such/object.bpf.o'), { name: 'BpfError', code: 'ENOENT', op: 'bpf_object__open' });
  });
});

describe('VerifierError', () => {
  /** Loads `open`, which must fail; returns the error and libbpf's messages. */
  function failedLoad(open: OpenBpfObject): { error: unknown; messages: string[] } {
    const { result, messages } = captureLog(() => {
      try {
        open.load();
      } catch (e) {
        return e;
      }
      return assert.fail('load() succeeded');
    });
    return { error: result, messages };
  }


  it('carries the log and a one-line summary of why', () => {
    const open = BpfObject.open(fixture('bad'));
    open.program('long_log').setAutoload(false);
    const { error, messages } = failedLoad(open);
    assert.ok(error instanceof VerifierError, String(error));
    assert.equal(error.program, 'unchecked');
    assert.equal(error.op, 'bpf_prog_load');
    assert.equal(error.code, 'EACCES');
    assert.equal(error.summary, "R0 invalid mem access 'map_value_or_null'");
    assert.match(error.log, /call bpf_map_lookup_elem/);
    assert.match(error.log, /processed \d+ insns/);
    assert.match(error.message, /^the verifier rejected program 'unchecked': R0 invalid mem access 'map_value_or_null'/);
    const log = error.log;
    assert.ok(messages.some((m) => m.includes(log)), 'the logger got the log as well');
  });

  it('keeps a log far longer than one libbpf message buffer (4 KiB) whole', () => {
    const open = BpfObject.open(fixture('bad'));
    open.program('unchecked').setAutoload(false);
    const { error } = failedLoad(open);
    assert.ok(error instanceof VerifierError, String(error));
    assert.equal(error.program, 'long_log');
    assert.ok(error.log.length > 16 * 1024, `log of ${error.log.length} chars`);
    assert.equal(error.summary, "R0 invalid mem access 'map_value_or_null'");
    assert.match(error.log, /processed \d+ insns[^\n]*\n$/);
  });

  it('a failed load releases the object: no fds stay open and the OpenBpfObject is closed', () => {
    const before = countFds();
    const open = BpfObject.open(fixture('bad'));
    open.program('long_log').setAutoload(false);
    captureLog(() => assert.throws(() => open.load(), VerifierError));
    assert.equal(countFds(), before);
    assert.throws(() => open.map('values'), ClosedError);
  });
});

describe('UnsupportedFeatureError', () => {
  it('is not raised here: the real probes find every type the fixtures use', () => {
    // The mapping itself is unit-tested with a fake probe (test/unit/load-failure.test.ts).
    for (const t of [MapType.ARRAY, MapType.HASH, MapType.PERCPU_ARRAY, MapType.RINGBUF, MapType.PERF_EVENT_ARRAY]) {
      assert.equal(kernelProbe.mapType(t), 1, `map type ${t}`);
    }
    for (const t of [ProgramType.SYSCALL, ProgramType.TRACEPOINT, ProgramType.RAW_TRACEPOINT]) {
      assert.equal(kernelProbe.progType(t), 1, `program type ${t}`);
    }
    assert.ok(new UnsupportedFeatureError('x', '9.9') instanceof BpfError);
  });
});

describe('ClosedError after close', () => {
  it('for every handle of a closed object', async () => {
    const obj = BpfObject.open(fixture('basic')).load();
    const map = obj.map('hash');
    const prog = obj.program('whoami');
    const bss = obj.bss;
    const [link] = obj.attachAll();
    obj.close();
    const closed = (what: RegExp) => (e: unknown) => e instanceof ClosedError && e.code === 'EBADF' && e.errno === 9 &&
      what.test(e.message) && /is closed and can no longer be used/.test(e.message);
    assert.throws(() => obj.map('hash'), closed(/map 'hash' of BPF object 'basic'/));
    assert.throws(() => obj.program('whoami'), closed(/program 'whoami'/));
    assert.throws(() => obj.maps, closed(/maps/));
    assert.throws(() => obj.programs, closed(/programs/));
    assert.throws(() => obj.attachAll(), closed(/programs/));
    assert.throws(() => map.lookup(1), closed(/map 'hash'/));
    assert.throws(() => map.update(1, 1n), closed(/map 'hash'/));
    assert.throws(() => map.delete(1), closed(/map 'hash'/));
    assert.throws(() => [...map.keys()], closed(/map 'hash'/));
    assert.throws(() => map.fd, closed(/map 'hash'/));
    assert.throws(() => prog.fd, closed(/program 'whoami'/));
    assert.throws(() => prog.testRun({ ctxIn: args(0n) }), closed(/program 'whoami'/));
    assert.throws(() => prog.attach(), closed(/program 'whoami'/));
    await assert.rejects(runOnCpus(prog, [0]), closed(/program 'whoami'/));
    assert.throws(() => bss.get('bss_value'), closed(/globals \.bss/));
    assert.throws(() => bss.set('bss_value', 1n), closed(/globals \.bss/));
    assert.throws(() => obj.bss, closed(/globals \.bss/));
    assert.throws(() => link.fd, closed(/link tracepoint\/syscalls\/sys_enter_getppid/));
    const events = BpfObject.open(fixture('events')).load();
    const ring = events.map('events');
    events.close();
    assert.throws(() => new RingBuffer(ring), closed(/map 'events' of BPF object 'events'/));
  });

  it('for a destroyed link, while its object stays usable', () => {
    using obj = BpfObject.open(fixture('basic')).load();
    const [link] = obj.attachAll();
    link.destroy();
    link.destroy();
    assert.throws(() => link.fd, ClosedError);
    assert.deepEqual(obj.attachAll().map((l) => l.attached), [true]);
  });
});
