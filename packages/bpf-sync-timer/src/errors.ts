// SyncTimerError: one code per failure, mirroring the Rust original's error variants and
// adding the cases it does not check.

/** Every code a SyncTimerError can carry. */
export const SyncTimerErrorCode = {
  // input
  INTERVAL_INVALID: 'INTERVAL_INVALID',
  INTERVAL_TOO_SMALL: 'INTERVAL_TOO_SMALL',
  INTERVAL_TOO_LARGE: 'INTERVAL_TOO_LARGE',
  INVALID_OPTION: 'INVALID_OPTION',
  INVALID_ID: 'INVALID_ID',
  ID_NOT_ASSIGNED: 'ID_NOT_ASSIGNED',
  IDS_EXHAUSTED: 'IDS_EXHAUSTED',
  NO_CPUS: 'NO_CPUS',
  CLOSED: 'CLOSED',
  // kernel and privileges
  UNSUPPORTED_KERNEL: 'UNSUPPORTED_KERNEL',
  MODE_UNSUPPORTED: 'MODE_UNSUPPORTED',
  CLOCK_UNSUPPORTED: 'CLOCK_UNSUPPORTED',
  ALL_MODES_FAILED: 'ALL_MODES_FAILED',
  OPEN_FAILED: 'OPEN_FAILED',
  LOAD_FAILED: 'LOAD_FAILED',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  // per-CPU arming (the init program's error codes and the pinning around it)
  AFFINITY_FAILED: 'AFFINITY_FAILED',
  CPU_PIN_FAILED: 'CPU_PIN_FAILED',
  BPF_PROGRAM_FAILED: 'BPF_PROGRAM_FAILED',
  MAP_UPDATE_FAILED: 'MAP_UPDATE_FAILED',
  MAP_LOOKUP_FAILED: 'MAP_LOOKUP_FAILED',
  TIMER_INIT_FAILED: 'TIMER_INIT_FAILED',
  TIMER_SET_CALLBACK_FAILED: 'TIMER_SET_CALLBACK_FAILED',
  TIMER_START_FAILED: 'TIMER_START_FAILED',
  WRONG_CPU: 'WRONG_CPU',
  UNKNOWN_BPF_ERROR: 'UNKNOWN_BPF_ERROR',
  THREAD_START_FAILED: 'THREAD_START_FAILED',
  MULTIPLE_FAILURES: 'MULTIPLE_FAILURES',
  // kernel.timer_migration
  SYSCTL_READ_FAILED: 'SYSCTL_READ_FAILED',
  SYSCTL_WRITE_FAILED: 'SYSCTL_WRITE_FAILED',
  SYSCTL_PARSE_FAILED: 'SYSCTL_PARSE_FAILED',
  // fds
  MAP_FD_DUP_FAILED: 'MAP_FD_DUP_FAILED',
} as const;

/** A SyncTimerError code. */
export type SyncTimerErrorCode = (typeof SyncTimerErrorCode)[keyof typeof SyncTimerErrorCode];

/** Details a SyncTimerError may carry. */
export interface SyncTimerErrorDetails {
  /** The CPU the failure happened on. */
  cpu?: number;
  /** The errno (positive) behind it, when there is one. */
  errno?: number;
  /** The underlying error (BpfError, fs error, ...). */
  cause?: unknown;
  /** MULTIPLE_FAILURES: the failed CPUs. */
  cpus?: number[];
  /** MULTIPLE_FAILURES: the error of each failed CPU. */
  failures?: SyncTimerError[];
  /** ALL_MODES_FAILED: why each mode failed. */
  modes?: Partial<Record<string, SyncTimerError>>;
}

/** The one error type of bpf-sync-timer; `code` says what failed. */
export class SyncTimerError extends Error {
  readonly code: SyncTimerErrorCode;
  readonly cpu: number | undefined;
  readonly errno: number | undefined;
  readonly cpus: number[] | undefined;
  readonly failures: SyncTimerError[] | undefined;
  readonly modes: Partial<Record<string, SyncTimerError>> | undefined;

  constructor(code: SyncTimerErrorCode, message: string, details: SyncTimerErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'SyncTimerError';
    this.code = code;
    this.cpu = details.cpu;
    this.errno = details.errno;
    this.cpus = details.cpus;
    this.failures = details.failures;
    this.modes = details.modes;
  }
}
