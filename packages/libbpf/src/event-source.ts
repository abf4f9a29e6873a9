// The shared shape of RingBuffer and PerfBuffer, with the rules of Node streams for errors
// and flow. Records go to a callback or to an async iterator. A throwing callback reaches
// the 'error' event (uncaught only when nobody listens, as with any EventEmitter), a
// failure of the buffer itself also rejects a waiting iterator, and a full iterator queue
// pauses the native poller: the kernel side then drops (and counts) instead of the heap
// growing, until the queue drains.
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { BpfArgumentError, BpfError, ClosedError } from './errors';
import type { NativeEventPoller } from './native';

/** Iterator queue bound of ring and perf buffers, in records, when none is given. */
export const DEFAULT_HIGH_WATER_MARK = 4096;

/** Checks a `highWaterMark` option; returns it or the default. */
export function highWaterMarkOf(value: unknown): number {
  if (value === undefined) return DEFAULT_HIGH_WATER_MARK;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new BpfArgumentError('highWaterMark', `expected a whole number of records, at least 1, got ${String(value)}`);
  }
  return value;
}

interface Waiter<T> {
  resolve(r: IteratorResult<T>): void;
  reject(e: unknown): void;
}

/**
 * What RingBuffer and PerfBuffer share: delivery to a callback or an async iterator,
 * `consume()`, `close()`/`closeAsync()`, `ref()`, and the `'error'` event.
 *
 * Events: `'error'` (err): a record callback threw (the record counts as delivered and
 * delivery goes on), or the buffer failed (it is closed then). Without a listener the error
 * is thrown: from `consume()`/`close()` to their caller, from the event loop as an uncaught
 * exception. In iterator mode a failure rejects the iterator instead (and reaches listeners
 * if there are any).
 */
export abstract class EventSource<T> extends EventEmitter implements AsyncIterable<T>, Disposable, AsyncDisposable {
  /** @internal */ protected handle: NativeEventPoller | undefined;
  /** @internal the user's record callback; undefined in iterator mode. */
  protected readonly callback: ((record: T) => void) | undefined;
  readonly #queue: T[] = [];
  #queueHead = 0;
  #waiters: Waiter<T>[] = [];
  #detach: () => void = () => {};
  /** A failure the iterator has not reported yet. */
  #error: Error | undefined;
  #paused = false;
  #delivering = false;
  readonly #highWaterMark: number;
  /** What this consumes, for messages. */
  readonly #what: string;

  /** @internal */
  protected constructor(what: string, callback: ((record: T) => void) | undefined, highWaterMark: number) {
    super();
    this.#what = what;
    this.callback = callback;
    this.#highWaterMark = highWaterMark;
  }

  /** @internal what this consumes, for messages. */
  protected describe(): string {
    return this.#what;
  }

  /** @internal */
  protected attach(handle: NativeEventPoller, detach: () => void): void {
    this.handle = handle;
    this.#detach = detach;
  }

  /**
   * @internal Hands at most `limit` ready records to `callbackRecord` (callback mode) or
   * `enqueue` (iterator mode); returns how many. Stops early when the buffer is closed.
   */
  protected abstract drain(limit: number): number;

  /** @internal one record to the user's callback; a throw goes to 'error' listeners. */
  protected callbackRecord(record: T): void {
    try {
      this.callback!(record);
    } catch (err) {
      this.callbackFailed(err);
    }
  }

  /**
   * @internal A user callback threw. Callback mode: an 'error' event, thrown on when nobody
   * listens. Iterator mode (onLost): the buffer fails, as a stream is destroyed.
   */
  protected callbackFailed(err: unknown): void {
    if (this.callback) this.emit('error', err);
    else this.fail(err instanceof Error ? err : new Error(String(err)));
  }

  /** @internal one record to the iterator. */
  protected enqueue(record: T): void {
    const w = this.#waiters.shift();
    if (w) w.resolve({ value: record, done: false });
    else this.#queue.push(record);
  }

  /**
   * @internal The buffer itself failed (not a callback): it closes, and the error goes to a
   * waiting iterator (or the next `next()`), and to 'error' listeners; in callback mode
   * it is emitted, so thrown when nobody listens.
   */
  protected fail(err: Error): void {
    const waiters = this.#waiters.splice(0);
    this.#close(false);
    if (this.callback) {
      this.emit('error', err);
      return;
    }
    if (waiters.length) for (const w of waiters) w.reject(err);
    else this.#error = err;
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** @internal the native poller's wake-up, and every drain: delivers, then applies the high-water mark. */
  protected pump(): number {
    if (!this.handle || this.#delivering) return 0;
    this.#delivering = true;
    try {
      return this.drain(this.callback ? Infinity : this.#highWaterMark - this.pending);
    } finally {
      this.#delivering = false;
      this.#flowControl();
    }
  }

  /** @internal whether a batch is being delivered (re-entrant calls wait for it). */
  protected get delivering(): boolean {
    return this.#delivering;
  }

  #flowControl(): void {
    const h = this.handle;
    if (!h || this.callback) return;
    if (!this.#paused && this.pending >= this.#highWaterMark) {
      this.#paused = true;
      h.pause();
    } else if (this.#paused && this.pending <= this.#highWaterMark >> 1) {
      this.#paused = false;
      h.resume();
    }
  }

  /** Records waiting in the iterator's queue (always 0 with a callback). */
  get pending(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** The iterator queue's bound (option `highWaterMark`): polling pauses when it is full. */
  get highWaterMark(): number {
    return this.#highWaterMark;
  }

  /** True while polling is paused because the iterator's queue is full. */
  get paused(): boolean {
    return this.#paused;
  }

  /** True until `close()`. */
  get open(): boolean {
    return this.handle !== undefined;
  }

  /**
   * Consumes what is ready now, synchronously (the event loop does this by itself), and
   * returns the record count. In iterator mode it stops at the high-water mark.
   * Throws a ClosedError after `close()`, and a BpfError (EBUSY) from inside a record
   * callback: the rest of that batch follows when the callback returns.
   */
  consume(): number {
    if (!this.handle) throw new ClosedError(this.#what);
    if (this.#delivering) {
      throw new BpfError('consume', osConstants.errno.EBUSY, `${this.#what}: consume() was called from inside its own record callback`,
        { hint: 'the records of the batch being delivered follow when the callback returns; call consume() outside the callback.' });
    }
    return this.pump();
  }

  /** Whether an open buffer keeps the process alive (like `socket.ref()`/`unref()`). Default: it does. */
  ref(keepAlive = true): this {
    this.handle?.setRef(keepAlive);
    return this;
  }

  /**
   * Delivers what is still ready, then stops; pending iterators finish after the queued
   * records. Called from inside a record callback, it stops at once: the rest of the
   * batch is not delivered. Idempotent.
   */
  close(): void {
    this.#close(!this.#delivering);
  }

  /**
   * `close()` for `await using` and async clean-up paths. Releasing a buffer does not wait
   * on the kernel (unmapping and closing its fds), so this resolves as soon as it is closed.
   */
  closeAsync(): Promise<void> {
    try {
      this.close();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.closeAsync();
  }

  #close(drainFirst: boolean): void {
    const h = this.handle;
    if (!h) return;
    try {
      if (drainFirst) this.pump();
    } finally {
      this.handle = undefined;
      h.close();
      this.#detach();
      for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
    }
  }

  #next(): Promise<IteratorResult<T>> {
    if (this.#queueHead < this.#queue.length) {
      const value = this.#queue[this.#queueHead++];
      if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#queueHead);
        this.#queueHead = 0;
      }
      if (this.#paused && this.pending <= this.#highWaterMark >> 1) this.#resume();
      return Promise.resolve({ value, done: false });
    }
    const err = this.#error;
    if (err) {
      this.#error = undefined;
      return Promise.reject(err);
    }
    if (!this.handle) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  // What the kernel kept while paused comes now, up to the mark; the poller then takes over.
  #resume(): void {
    this.pump();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.callback) throw new TypeError(`${this.#what} delivers to its callback; create it without one to iterate`);
    return {
      next: () => this.#next(),
      return: () => {
        this.#close(false);
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
