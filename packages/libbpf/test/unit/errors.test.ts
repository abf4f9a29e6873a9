// Error mapping without a kernel: errno names, hints, verifier log parsing, error classes.
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { constants } from 'node:os';
import {
  BpfError, ClosedError, UnsupportedFeatureError, VerifierError, errnoName, extractVerifierLogs, hintFor, summarizeVerifierLog,
} from '../../src/errors';
import { installFakeNative } from '../support/fake-native';

// Nothing is scripted: any call into the addon would throw (this is pure TypeScript).
installFakeNative();

const E = constants.errno;

// A real log of bad.bpf.c's `unchecked` (kernel 6.18), statistics lines included.
const UNCHECKED_LOG = [
  "arg#0 reference type('UNKNOWN ') size cannot be determined: -22",
  '0: R1=ctx() R10=fp0',
  '; int unchecked(void *ctx) @ bad.bpf.c:21',
  '0: (b4) w1 = 0                        ; R1=0',
  '6: (85) call bpf_map_lookup_elem#1    ; R0=map_value_or_null(id=1,map=values,ks=4,vs=8)',
  '; return *v; @ bad.bpf.c:26',
  '7: (79) r0 = *(u64 *)(r0 +0)',
  "R0 invalid mem access 'map_value_or_null'",
  'verification time 31 usec',
  'stack depth 4',
  'processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
  '',
].join('\n');

describe('errnoName', () => {
  it('names the errnos of the OS', () => {
    assert.equal(errnoName(1), 'EPERM');
    assert.equal(errnoName(2), 'ENOENT');
    assert.equal(errnoName(13), 'EACCES');
    assert.equal(errnoName(E.E2BIG), 'E2BIG');
  });
  it('prefers the names Linux prints for numbers with two names', () => {
    assert.equal(errnoName(11), 'EAGAIN');
    assert.equal(errnoName(95), 'EOPNOTSUPP');
  });
  it("names libbpf's own codes (4000..4013) and the kernel-internal ENOTSUPP", () => {
    assert.equal(errnoName(4000), 'LIBBPF_ERRNO__LIBELF');
    assert.equal(errnoName(4001), 'LIBBPF_ERRNO__FORMAT');
    assert.equal(errnoName(4007), 'LIBBPF_ERRNO__VERIFY');
    assert.equal(errnoName(4013), 'LIBBPF_ERRNO__NLPARSE');
    assert.equal(errnoName(524), 'ENOTSUPP');
  });
  it('falls back to E<n> for unknown numbers', () => {
    assert.equal(errnoName(3999), 'E3999');
    assert.equal(errnoName(4014), 'E4014');
    assert.equal(errnoName(99999), 'E99999');
  });
});

describe('hintFor', () => {
  it('gives the privileges hint for EPERM in any operation', () => {
    for (const op of ['bpf_object__load', 'bpf_map_create', 'perf_event_open']) {
      assert.match(hintFor(op, E.EPERM) ?? '', /CAP_BPF and CAP_PERFMON/, op);
    }
  });
  it('gives it for EACCES except on loads, where EACCES is the verifier', () => {
    assert.match(hintFor('bpf_map_update_elem', E.EACCES) ?? '', /root/);
    assert.equal(hintFor('bpf_prog_load', E.EACCES), undefined);
    assert.equal(hintFor('bpf_object__load', E.EACCES), undefined);
  });
  it('says tracefs or no such event for ENOENT on a tracepoint, and traceable functions on a kprobe', () => {
    assert.match(hintFor('bpf_program__attach_tracepoint', E.ENOENT) ?? '', /tracefs is not mounted.*no such event/);
    assert.match(hintFor('bpf_program__attach tracepoint/syscalls/x', E.ENOENT) ?? '', /tracefs/);
    assert.match(hintFor('bpf_program__attach_kprobe', E.ENOENT) ?? '', /available_filter_functions/);
    assert.equal(hintFor('bpf_object__open', E.ENOENT), undefined);
  });
  it('tells a full map from an oversized argument for E2BIG', () => {
    assert.match(hintFor('bpf_map_update_elem', E.E2BIG) ?? '', /map is full.*past max_entries/);
    assert.match(hintFor('bpf_prog_test_run', E.E2BIG) ?? '', /larger than the kernel accepts/);
  });
  it('covers EINVAL on maps only, ENOSPC, EBADF, EEXIST on updates and non-ELF input', () => {
    assert.match(hintFor('bpf_map_lookup_elem', E.EINVAL) ?? '', /key or value size/);
    assert.equal(hintFor('bpf_prog_test_run', E.EINVAL), undefined);
    assert.match(hintFor('anything', E.ENOSPC) ?? '', /max_entries/);
    assert.match(hintFor('anything', E.EBADF) ?? '', /already closed/);
    assert.match(hintFor('bpf_map_update_elem', E.EEXIST) ?? '', /NOEXIST/);
    assert.equal(hintFor('bpf_link_create', E.EEXIST), undefined);
    assert.match(hintFor('bpf_object__open', 4001) ?? '', /not a BPF ELF object/);
  });
  it('has no hint for errnos without a common cause', () => {
    assert.equal(hintFor('bpf_map_lookup_elem', E.EFAULT), undefined);
    assert.equal(hintFor('bpf_object__load', E.ENOMEM), undefined);
  });
});

describe('summarizeVerifierLog', () => {
  it('picks the reason: the last line that is not statistics, an instruction or source', () => {
    assert.equal(summarizeVerifierLog(UNCHECKED_LOG), "R0 invalid mem access 'map_value_or_null'");
  });
  it('finds a reason that is followed only by the processed-insns line', () => {
    const log = '13: (ae) if w7 < w1 goto pc+2\nThe sequence of 8193 jumps is too complex.\nprocessed 114683 insns (limit 1000000) max_states_per_insn 4\n';
    assert.equal(summarizeVerifierLog(log), 'The sequence of 8193 jumps is too complex.');
  });
  it('says so when the log has no reason', () => {
    assert.equal(summarizeVerifierLog(''), 'no reason in the log');
    assert.equal(summarizeVerifierLog('processed 3 insns (limit 1000000)\n\n0: (b7) r0 = 0\n; return 0;\n'), 'no reason in the log');
  });
});

describe('extractVerifierLogs', () => {
  it("cuts each program's log out of libbpf's messages, even across message boundaries", () => {
    const messages = [
      "libbpf: prog 'first': BPF program load failed: Permission denied\n",
      "libbpf: prog 'first': -- BEGIN PROG LOAD LOG --\nline one\n",
      'line two\n-- END PROG LOAD LOG --\n',
      "libbpf: prog 'second': -- BEGIN PROG LOAD LOG --\nother\n-- END PROG LOAD LOG --\n",
      "libbpf: failed to load object 'x'\n",
    ];
    assert.deepEqual(extractVerifierLogs(messages), [
      { program: 'first', log: 'line one\nline two\n' },
      { program: 'second', log: 'other\n' },
    ]);
  });
  it('returns nothing when a log is cut short (no END marker) or absent', () => {
    assert.deepEqual(extractVerifierLogs(["libbpf: prog 'p': -- BEGIN PROG LOAD LOG --\nno end"]), []);
    assert.deepEqual(extractVerifierLogs(['libbpf: map created\n']), []);
  });
});

describe('error classes', () => {
  it('BpfError carries op, errno, code and the hint in its message', () => {
    const e = new BpfError('bpf_map_update_elem', E.EEXIST);
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'BpfError');
    assert.equal(e.op, 'bpf_map_update_elem');
    assert.equal(e.errno, E.EEXIST);
    assert.equal(e.code, 'EEXIST');
    assert.equal(e.hint, 'the key exists and NOEXIST was given.');
    assert.equal(e.message, 'bpf_map_update_elem failed: EEXIST (EEXIST). Hint: the key exists and NOEXIST was given.');
  });
  it('BpfError takes an explicit hint, or none, over the errno mapping', () => {
    const own = new BpfError('write to .rodata', E.EPERM, 'read-only', { hint: 'set it before load' });
    assert.equal(own.hint, 'set it before load');
    assert.equal(own.message, 'read-only (EPERM). Hint: set it before load');
    const none = new BpfError('bpf_object__load', E.EPERM, 'x', { hint: null });
    assert.equal(none.hint, undefined);
    assert.equal(none.message, 'x (EPERM)');
  });
  it('ClosedError is a BpfError with EBADF', () => {
    const e = new ClosedError("map 'm' of BPF object 'o'");
    assert.ok(e instanceof BpfError);
    assert.equal(e.name, 'ClosedError');
    assert.equal(e.code, 'EBADF');
    assert.match(e.message, /^map 'm' of BPF object 'o' is closed and can no longer be used \(EBADF\)/);
    const after = new ClosedError('maps of OpenBpfObject o', 'cannot be used after load()', 'use the BpfObject that load() returned');
    assert.equal(after.message, 'maps of OpenBpfObject o cannot be used after load() (EBADF). Hint: use the BpfObject that load() returned');
  });
  it('VerifierError keeps the whole log and its summary', () => {
    const e = new VerifierError('unchecked', E.EACCES, UNCHECKED_LOG);
    assert.ok(e instanceof BpfError);
    assert.equal(e.name, 'VerifierError');
    assert.equal(e.program, 'unchecked');
    assert.equal(e.op, 'bpf_prog_load');
    assert.equal(e.code, 'EACCES');
    assert.equal(e.log, UNCHECKED_LOG);
    assert.equal(e.summary, "R0 invalid mem access 'map_value_or_null'");
    assert.match(e.message, /^the verifier rejected program 'unchecked': R0 invalid mem access 'map_value_or_null'/);
  });
  it('UnsupportedFeatureError names the feature and its first kernel', () => {
    const e = new UnsupportedFeatureError('BPF_MAP_TYPE_RINGBUF', '5.8');
    assert.ok(e instanceof BpfError);
    assert.equal(e.feature, 'BPF_MAP_TYPE_RINGBUF');
    assert.equal(e.minKernel, '5.8');
    assert.equal(e.code, 'EOPNOTSUPP');
    assert.equal(e.hint, undefined);
    assert.equal(e.message, 'BPF_MAP_TYPE_RINGBUF is not supported by this kernel (needs Linux 5.8 or newer) (EOPNOTSUPP)');
    assert.match(new UnsupportedFeatureError('BPF_MAP_TYPE_99', 'a newer kernel').message, /\(needs a newer kernel\)/);
  });
});
