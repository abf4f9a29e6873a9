// The shared shape of RingBuffer and PerfBuffer: records arrive in batches from the
// native poller on the libuv loop and go to a callback or to an async iterator.
import { ClosedError } from './errors';
import type { NativeEventBuffer } from './native';

/** @internal */
export abstract class EventSource<T> implements AsyncIterable<T> {
  /** @internal */ protected handle: NativeEventBuffer | undefined;
  readonly #callback: ((record: T) => void) | undefined;
  readonly #queue: T[] = [];
  #queueHead = 0;
  #waiters: Array<(r: IteratorResult<T>) => void> = [];
  #detach: () => void = () => {};
  #error: Error | undefined;
  /** What this consumes, for messages. */
  readonly #what: string;

  /** @internal */
  protected constructor(what: string, callback: ((record: T) => void) | undefined) {
    this.#what = what;
    this.#callback = callback;
  }

  /** @internal */
  protected attach(handle: NativeEventBuffer, detach: () => void): void {
    this.handle = handle;
    this.#detach = detach;
  }

  /** @internal delivers one record. */
  protected emit(record: T): void {
    if (this.#callback) {
      this.#callback(record);
      return;
    }
    const w = this.#waiters.shift();
    if (w) w({ value: record, done: false });
    else this.#queue.push(record);
  }

  /** @internal */
  protected fail(err: Error): void {
    this.#error = err;
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }

  /** Records waiting in the iterator's queue (always 0 with a callback). */
  get pending(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** True until `close()`. */
  get open(): boolean {
    return this.handle !== undefined;
  }

  /** Consumes what is ready now, synchronously (the event loop does this by itself). Returns the record count. */
  consume(): number {
    if (!this.handle) throw new ClosedError(this.#what);
    return this.handle.consume();
  }

  /** Whether an open buffer keeps the process alive (like `socket.ref()`/`unref()`). Default: it does. */
  ref(keepAlive = true): this {
    this.handle?.setRef(keepAlive);
    return this;
  }

  /**
   * Delivers what is still ready, then stops. Pending iterators finish after the queued
   * records. Idempotent.
   */
  close(): void {
    const h = this.handle;
    if (!h) return;
    try {
      h.consume();
    } catch {
      // the map may be gone already; nothing more to deliver then
    }
    this.handle = undefined;
    h.close();
    this.#detach();
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.#callback) throw new TypeError(`${this.#what} delivers to its callback; create it without one to iterate`);
    return {
      next: () => {
        if (this.#queueHead < this.#queue.length) {
          const value = this.#queue[this.#queueHead++];
          if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
            this.#queue.splice(0, this.#queueHead);
            this.#queueHead = 0;
          }
          return Promise.resolve({ value, done: false });
        }
        if (!this.handle) {
          return this.#error ? Promise.reject(this.#error) : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
