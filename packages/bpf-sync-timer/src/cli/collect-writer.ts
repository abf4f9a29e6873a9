// The event loop's side of `sync-timer collect`'s output: raw samples are copied into
// fixed-size batches (one memcpy per sample, no decoding here) and handed to the writer
// worker (collect-worker.ts) by transfer. At most `maxInFlight` batches wait on the worker;
// a batch beyond that is dropped and its rows counted, so a slow disk costs rows, never
// unbounded memory or a stalled ring buffer.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SAMPLE_SIZE } from './collect-schema';
import type { WrittenFile } from './collect-sinks';
import type { FromWorker, ToWorker, WorkerConfig } from './collect-worker';
import { CliError } from './units';

/** How batches are sized and bounded. */
export interface BatchLimits {
  /** Samples per batch. */
  batchRows: number;
  /** Batches sent and not yet written, at most. */
  maxInFlight: number;
}

/** What a closed writer reports. */
export interface WriterSummary {
  files: WrittenFile[];
  /** Rows the worker wrote. */
  written: number;
  /** Rows dropped because `maxInFlight` batches were waiting. */
  dropped: number;
}

const WORKER_FILE = path.join(__dirname, 'collect-worker.js');

/** Batches samples to a writer worker. */
export class BatchWriter {
  readonly #worker: Worker;
  readonly #limits: BatchLimits;
  #batch: Uint8Array;
  #count = 0;
  #inFlight = 0;
  #written = 0;
  #dropped = 0;
  #failure: Error | undefined;
  #closed: Promise<WriterSummary> | undefined;

  private constructor(worker: Worker, limits: BatchLimits) {
    this.#worker = worker;
    this.#limits = limits;
    this.#batch = new Uint8Array(limits.batchRows * SAMPLE_SIZE);
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'ack') {
        this.#inFlight--;
        this.#written += m.rows;
      } else if (m.type === 'error') this.#failure ??= new CliError(`collect: writing failed: ${m.message}`);
    });
    worker.on('error', (e) => (this.#failure ??= new CliError(`collect: the writer thread failed: ${e.message}`, { cause: e })));
  }

  /** Starts the worker; resolves once its sink is open (rejects with its error). */
  static async start(config: WorkerConfig, limits: BatchLimits): Promise<BatchWriter> {
    const worker = new Worker(WORKER_FILE, { workerData: config });
    try {
      await new Promise<void>((resolve, reject) => {
        worker.once('message', (m: FromWorker) => (m.type === 'ready' ? resolve() : reject(new CliError(`collect: ${m.type === 'error' ? m.message : 'the writer thread did not start'}`))));
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new CliError(`collect: the writer thread exited (${code}) before it started`)));
      });
    } catch (e) {
      await worker.terminate();
      throw e;
    }
    worker.removeAllListeners('exit');
    return new BatchWriter(worker, limits);
  }

  /** The first write failure, if any (the command stops on it). */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Rows dropped so far because the worker fell behind. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Copies one raw sample (valid only during the ring buffer's callback). */
  push(sample: Uint8Array): void {
    this.#batch.set(sample, this.#count * SAMPLE_SIZE);
    if (++this.#count === this.#limits.batchRows) this.flush();
  }

  /** Hands the samples gathered so far to the worker. */
  flush(): void {
    if (this.#count === 0) return;
    if (this.#inFlight >= this.#limits.maxInFlight || this.#failure) {
      this.#dropped += this.#count;
      this.#count = 0;
      return;
    }
    const bytes = this.#batch.buffer as ArrayBuffer;
    const message: ToWorker = { type: 'batch', bytes, count: this.#count };
    this.#worker.postMessage(message, [bytes]);
    this.#inFlight++;
    this.#batch = new Uint8Array(this.#limits.batchRows * SAMPLE_SIZE);
    this.#count = 0;
  }

  /** Sends what is left, completes the files and ends the worker. Idempotent. */
  close(): Promise<WriterSummary> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<WriterSummary> {
    try {
      this.flush();
      const files = await new Promise<WrittenFile[]>((resolve, reject) => {
        const fail = () => reject(this.#failure ?? new CliError('collect: the writer thread ended before it completed the files'));
        if (this.#failure) return fail();
        this.#worker.on('message', (m: FromWorker) => (m.type === 'closed' ? resolve(m.files) : m.type === 'error' ? fail() : undefined));
        this.#worker.once('exit', fail);
        this.#worker.postMessage({ type: 'close' } satisfies ToWorker);
      });
      return { files, written: this.#written, dropped: this.#dropped };
    } finally {
      await this.#worker.terminate();
    }
  }

  /** Ends the worker without completing its file (for errors). */
  async abort(): Promise<void> {
    await this.#worker.terminate();
  }
}
