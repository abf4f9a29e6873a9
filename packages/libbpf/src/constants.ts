// Kernel enums used by the binding, with the first kernel that has each value
// (for UnsupportedFeatureError and documentation).

/** `enum bpf_map_type` values this binding names. */
export const MapType = {
  UNSPEC: 0, HASH: 1, ARRAY: 2, PROG_ARRAY: 3, PERF_EVENT_ARRAY: 4, PERCPU_HASH: 5, PERCPU_ARRAY: 6,
  STACK_TRACE: 7, CGROUP_ARRAY: 8, LRU_HASH: 9, LRU_PERCPU_HASH: 10, LPM_TRIE: 11, ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13, DEVMAP: 14, SOCKMAP: 15, CPUMAP: 16, XSKMAP: 17, SOCKHASH: 18, CGROUP_STORAGE: 19,
  REUSEPORT_SOCKARRAY: 20, PERCPU_CGROUP_STORAGE: 21, QUEUE: 22, STACK: 23, SK_STORAGE: 24,
  DEVMAP_HASH: 25, STRUCT_OPS: 26, RINGBUF: 27, INODE_STORAGE: 28, TASK_STORAGE: 29, BLOOM_FILTER: 30,
  USER_RINGBUF: 31, CGRP_STORAGE: 32, ARENA: 33,
} as const;

/** `enum bpf_prog_type` values this binding names. */
export const ProgramType = {
  UNSPEC: 0, SOCKET_FILTER: 1, KPROBE: 2, SCHED_CLS: 3, SCHED_ACT: 4, TRACEPOINT: 5, XDP: 6,
  PERF_EVENT: 7, CGROUP_SKB: 8, CGROUP_SOCK: 9, LWT_IN: 10, LWT_OUT: 11, LWT_XMIT: 12, SOCK_OPS: 13,
  SK_SKB: 14, CGROUP_DEVICE: 15, SK_MSG: 16, RAW_TRACEPOINT: 17, CGROUP_SOCK_ADDR: 18,
  LWT_SEG6LOCAL: 19, LIRC_MODE2: 20, SK_REUSEPORT: 21, FLOW_DISSECTOR: 22, CGROUP_SYSCTL: 23,
  RAW_TRACEPOINT_WRITABLE: 24, CGROUP_SOCKOPT: 25, TRACING: 26, STRUCT_OPS: 27, EXT: 28, LSM: 29,
  SK_LOOKUP: 30, SYSCALL: 31, NETFILTER: 32,
} as const;

/** Flags of `BpfMap.update`. */
export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2, F_LOCK: 4 } as const;

/** First kernel with each map type (Documentation/bpf and bcc's kernel-versions.md). */
export const MAP_TYPE_MIN_KERNEL: Record<number, string> = {
  [MapType.HASH]: '3.19', [MapType.ARRAY]: '3.19', [MapType.PROG_ARRAY]: '4.2',
  [MapType.PERF_EVENT_ARRAY]: '4.3', [MapType.PERCPU_HASH]: '4.6', [MapType.PERCPU_ARRAY]: '4.6',
  [MapType.STACK_TRACE]: '4.6', [MapType.CGROUP_ARRAY]: '4.8', [MapType.LRU_HASH]: '4.10',
  [MapType.LRU_PERCPU_HASH]: '4.10', [MapType.LPM_TRIE]: '4.11', [MapType.ARRAY_OF_MAPS]: '4.12',
  [MapType.HASH_OF_MAPS]: '4.12', [MapType.DEVMAP]: '4.14', [MapType.SOCKMAP]: '4.14',
  [MapType.CPUMAP]: '4.15', [MapType.XSKMAP]: '4.18', [MapType.SOCKHASH]: '4.18',
  [MapType.CGROUP_STORAGE]: '4.19', [MapType.REUSEPORT_SOCKARRAY]: '4.19',
  [MapType.PERCPU_CGROUP_STORAGE]: '4.20', [MapType.QUEUE]: '4.20', [MapType.STACK]: '4.20',
  [MapType.SK_STORAGE]: '5.2', [MapType.DEVMAP_HASH]: '5.4', [MapType.STRUCT_OPS]: '5.6',
  [MapType.RINGBUF]: '5.8', [MapType.INODE_STORAGE]: '5.10', [MapType.TASK_STORAGE]: '5.11',
  [MapType.BLOOM_FILTER]: '5.16', [MapType.USER_RINGBUF]: '6.1', [MapType.CGRP_STORAGE]: '6.2',
  [MapType.ARENA]: '6.9',
};

/** First kernel with each program type. */
export const PROGRAM_TYPE_MIN_KERNEL: Record<number, string> = {
  [ProgramType.SOCKET_FILTER]: '3.19', [ProgramType.KPROBE]: '4.1', [ProgramType.SCHED_CLS]: '4.1',
  [ProgramType.SCHED_ACT]: '4.1', [ProgramType.TRACEPOINT]: '4.7', [ProgramType.XDP]: '4.8',
  [ProgramType.PERF_EVENT]: '4.9', [ProgramType.CGROUP_SKB]: '4.10', [ProgramType.CGROUP_SOCK]: '4.10',
  [ProgramType.LWT_IN]: '4.10', [ProgramType.LWT_OUT]: '4.10', [ProgramType.LWT_XMIT]: '4.10',
  [ProgramType.SOCK_OPS]: '4.13', [ProgramType.SK_SKB]: '4.14', [ProgramType.CGROUP_DEVICE]: '4.15',
  [ProgramType.SK_MSG]: '4.17', [ProgramType.RAW_TRACEPOINT]: '4.17', [ProgramType.CGROUP_SOCK_ADDR]: '4.17',
  [ProgramType.LWT_SEG6LOCAL]: '4.18', [ProgramType.LIRC_MODE2]: '4.18', [ProgramType.SK_REUSEPORT]: '4.19',
  [ProgramType.FLOW_DISSECTOR]: '4.20', [ProgramType.CGROUP_SYSCTL]: '5.2',
  [ProgramType.RAW_TRACEPOINT_WRITABLE]: '5.2', [ProgramType.CGROUP_SOCKOPT]: '5.3',
  [ProgramType.TRACING]: '5.5', [ProgramType.STRUCT_OPS]: '5.6', [ProgramType.EXT]: '5.6',
  [ProgramType.LSM]: '5.7', [ProgramType.SK_LOOKUP]: '5.9', [ProgramType.SYSCALL]: '5.14',
  [ProgramType.NETFILTER]: '6.4',
};

const mapNames = new Map<number, string>(Object.entries(MapType).map(([k, v]) => [v, k]));
const progNames = new Map<number, string>(Object.entries(ProgramType).map(([k, v]) => [v, k]));

/** `BPF_MAP_TYPE_<NAME>` of a map type number. */
export function mapTypeName(type: number): string {
  return `BPF_MAP_TYPE_${mapNames.get(type) ?? type}`;
}

/** `BPF_PROG_TYPE_<NAME>` of a program type number. */
export function programTypeName(type: number): string {
  return `BPF_PROG_TYPE_${progNames.get(type) ?? type}`;
}

/** True for map types whose values exist once per possible CPU. */
export function isPerCpuMapType(type: number): boolean {
  return type === MapType.PERCPU_HASH || type === MapType.PERCPU_ARRAY ||
    type === MapType.LRU_PERCPU_HASH || type === MapType.PERCPU_CGROUP_STORAGE;
}
