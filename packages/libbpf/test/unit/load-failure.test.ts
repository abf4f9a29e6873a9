// explainLoadFailure with a fake feature probe (no kernel): which error a failed load becomes;
// and OpenBpfObject.load() over a fake addon: what it does with a failed load.
import { beforeEach, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { constants } from 'node:os';
import { MapType, ProgramType } from '../../src/constants';
import { BpfError, ClosedError, UnsupportedFeatureError, VerifierError } from '../../src/errors';
import { setLogger, type LogLevel } from '../../src/log';
import { explainLoadFailure, OpenBpfObject, type FeatureProbe } from '../../src/object';
import type { NativeMapInfo, NativeProgramInfo } from '../../src/native';
import { installFakeNative, type FakeObjectSpec } from '../support/fake-native';
import { objectBytes } from '../support/object-bytes';

const E = constants.errno;

function map(name: string, type: number, autocreate = true): NativeMapInfo {
  return { name, type, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0, internal: false, autocreate };
}

function prog(name: string, type: number, autoload = true): NativeProgramInfo {
  return { name, section: 'x', type, expectedAttachType: 0, autoload };
}

/** A kernel that lacks the given map and program types; records what was probed. */
function fakeKernel(missingMaps: number[], missingProgs: number[], result = 0): FeatureProbe & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    mapType(t) {
      calls.push(`map ${t}`);
      return missingMaps.includes(t) ? result : 1;
    },
    progType(t) {
      calls.push(`prog ${t}`);
      return missingProgs.includes(t) ? result : 1;
    },
  };
}

const maps = [map('counts', MapType.HASH), map('events', MapType.RINGBUF)];
const progs = [prog('tick', ProgramType.SYSCALL), prog('hook', ProgramType.TRACEPOINT)];
const loadError = (errno: number) => new BpfError('bpf_object__load', errno);

describe('explainLoadFailure', () => {
  it('returns non-BpfErrors untouched', () => {
    const e = new TypeError('x');
    assert.equal(explainLoadFailure(e, [], maps, progs, fakeKernel([], [])), e);
  });

  it('turns a logged verifier log into a VerifierError without probing', () => {
    const kernel = fakeKernel([MapType.RINGBUF], []);
    const messages = ["libbpf: prog 'tick': -- BEGIN PROG LOAD LOG --\n", "R0 !read_ok\nprocessed 2 insns\n-- END PROG LOAD LOG --\n"];
    const err = explainLoadFailure(loadError(E.EACCES), messages, maps, progs, kernel);
    assert.ok(err instanceof VerifierError);
    assert.equal(err.program, 'tick');
    assert.equal(err.summary, 'R0 !read_ok');
    assert.equal(err.errno, E.EACCES);
    assert.deepEqual(kernel.calls, []);
  });

  it('names a missing map type with its first kernel when the load failed with EINVAL', () => {
    const cause = loadError(E.EINVAL);
    const err = explainLoadFailure(cause, [], maps, progs, fakeKernel([MapType.RINGBUF], []));
    assert.ok(err instanceof UnsupportedFeatureError);
    assert.equal(err.feature, 'BPF_MAP_TYPE_RINGBUF');
    assert.equal(err.minKernel, '5.8');
    assert.equal(err.cause, cause);
  });

  it('names a missing program type (EOPNOTSUPP and ENOTSUPP too), skipping programs not loaded', () => {
    const kernel = fakeKernel([], [ProgramType.SYSCALL, ProgramType.TRACEPOINT]);
    const err = explainLoadFailure(loadError(E.EOPNOTSUPP), [], maps, [prog('off', ProgramType.SYSCALL, false), ...progs.slice(1)], kernel);
    assert.ok(err instanceof UnsupportedFeatureError);
    assert.equal(err.feature, 'BPF_PROG_TYPE_TRACEPOINT');
    assert.equal(err.minKernel, '4.7');
    assert.ok(!kernel.calls.includes(`prog ${ProgramType.SYSCALL}`), 'a program with autoload off is not probed');

    const syscall = explainLoadFailure(loadError(524), [], maps, progs, fakeKernel([], [ProgramType.SYSCALL]));
    assert.ok(syscall instanceof UnsupportedFeatureError);
    assert.equal(syscall.feature, 'BPF_PROG_TYPE_SYSCALL');
    assert.equal(syscall.minKernel, '5.14');
  });

  it('skips maps that are not created (autocreate off)', () => {
    const err = explainLoadFailure(loadError(E.EINVAL), [], [map('ring', MapType.RINGBUF, false)], [], fakeKernel([MapType.RINGBUF], []));
    assert.ok(!(err instanceof UnsupportedFeatureError));
    assert.equal((err as BpfError).code, 'EINVAL');
  });

  it('says "a newer kernel" for a type it has no first kernel for', () => {
    const err = explainLoadFailure(loadError(E.EINVAL), [], [map('future', 99)], [], fakeKernel([99], []));
    assert.ok(err instanceof UnsupportedFeatureError);
    assert.equal(err.feature, 'BPF_MAP_TYPE_99');
    assert.equal(err.minKernel, 'a newer kernel');
  });

  it('keeps EPERM a BpfError with the privileges hint, without probing (probes fail the same way then)', () => {
    const kernel = fakeKernel([MapType.HASH, MapType.RINGBUF], [ProgramType.SYSCALL, ProgramType.TRACEPOINT]);
    const messages = ["libbpf: Error in bpf_object__probe_loading():Operation not permitted(1). Couldn't load trivial BPF program.\n"];
    const err = explainLoadFailure(loadError(E.EPERM), messages, maps, progs, kernel);
    assert.ok(err instanceof BpfError);
    assert.ok(!(err instanceof UnsupportedFeatureError));
    assert.equal(err.code, 'EPERM');
    assert.equal(err.op, 'bpf_object__load');
    assert.match(err.hint ?? '', /CAP_BPF/);
    assert.match(err.message, /Couldn't load trivial BPF program/);
    assert.deepEqual(kernel.calls, []);
  });

  it('keeps the errno when every probe passes, with libbpf\'s error lines as the message', () => {
    const messages = ['libbpf: map \'counts\': created successfully\n', "libbpf: map 'events': failed to create: Invalid argument(-22)\n"];
    const err = explainLoadFailure(loadError(E.EINVAL), messages, maps, progs, fakeKernel([], []));
    assert.equal(err.constructor, BpfError);
    assert.equal((err as BpfError).code, 'EINVAL');
    assert.equal(err.message, "loading the object failed: libbpf: map 'events': failed to create: Invalid argument(-22) (EINVAL)");
  });

  it('does not take a failed probe (< 0) for a missing feature', () => {
    const err = explainLoadFailure(loadError(E.EINVAL), [], maps, progs, fakeKernel([MapType.HASH], [], -1));
    assert.ok(!(err instanceof UnsupportedFeatureError));
  });
});

describe('OpenBpfObject.load() failing (fake addon)', () => {
  let spec: FakeObjectSpec;
  let missingMaps: number[] = [];
  const fake = installFakeNative({
    open: () => spec,
    probeMapType: (t) => (missingMaps.includes(t) ? 0 : 1),
    probeProgType: () => 1,
  });
  const logged: Array<[LogLevel, string]> = [];
  setLogger((level, message) => void logged.push([level, message]));
  beforeEach(() => {
    fake.reset();
    logged.length = 0;
    missingMaps = [];
  });

  it('probes the kernel through the addon, throws UnsupportedFeatureError and closes the object once', () => {
    spec = { maps, programs: progs, loadFailure: { errno: E.EINVAL, messages: ["libbpf: map 'events': failed to create: Invalid argument(-22)\n"] } };
    missingMaps = [MapType.RINGBUF];
    const open = OpenBpfObject.open(objectBytes, { objectName: 'obj' });
    assert.throws(() => open.load(), (e: unknown) =>
      e instanceof UnsupportedFeatureError && e.feature === 'BPF_MAP_TYPE_RINGBUF' && e.minKernel === '5.8' &&
      e.cause instanceof BpfError && e.cause.op === 'bpf_object__load' && e.cause.code === 'EINVAL');
    assert.deepEqual(fake.calls.filter((c) => c.op.startsWith('probe')), [
      { op: 'probeMapType', args: [MapType.HASH] },
      { op: 'probeMapType', args: [MapType.RINGBUF] },
    ]);
    assert.deepEqual(logged, [['warn', "libbpf: map 'events': failed to create: Invalid argument(-22)\n"]]);
    assert.equal(fake.objects[0].state, 'closed');
    assert.throws(() => open.map('counts'), (e: unknown) => e instanceof ClosedError && /map 'counts' of BPF object 'obj' is closed/.test(e.message));
    assert.throws(() => open.load(), ClosedError);
    open.close();
    assert.equal(fake.ops().filter((op) => op === 'close').length, 1, 'the handle is closed exactly once');
  });

  it("turns the verifier log in libbpf's messages into a VerifierError, without probing", () => {
    const messages = ["libbpf: prog 'tick': -- BEGIN PROG LOAD LOG --\n", 'R0 !read_ok\nprocessed 2 insns\n-- END PROG LOAD LOG --\n'];
    spec = { maps, programs: progs, loadFailure: { errno: E.EACCES, messages } };
    const open = OpenBpfObject.open(objectBytes);
    assert.throws(() => open.load(), (e: unknown) =>
      e instanceof VerifierError && e.program === 'tick' && e.summary === 'R0 !read_ok' && e.log === 'R0 !read_ok\nprocessed 2 insns\n');
    assert.deepEqual(logged.map(([, m]) => m), messages);
    assert.ok(!fake.ops().some((op) => op.startsWith('probe')), 'no probe');
    assert.equal(fake.objects[0].state, 'closed');
  });

  it('keeps the errno and its hint when nothing explains the failure', () => {
    spec = { maps, programs: progs, loadFailure: { errno: E.EPERM } };
    assert.throws(() => OpenBpfObject.open(objectBytes).load(), (e: unknown) =>
      e instanceof BpfError && !(e instanceof UnsupportedFeatureError) && e.code === 'EPERM' && /CAP_BPF/.test(e.hint ?? ''));
    assert.ok(!fake.ops().some((op) => op.startsWith('probe')), 'EPERM is not probed');
    assert.equal(fake.objects[0].state, 'closed');
  });
});
