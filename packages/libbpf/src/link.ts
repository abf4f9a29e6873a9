// Attachments of programs.
import type { Closeable } from './core';
import { ClosedError } from './errors';
import type { NativeLinkHandle } from './native';

/**
 * An attached program; `destroy()` (or `closeAsync()`, off the JS thread) detaches it.
 * Minimum kernel: as the attach type.
 *
 * @example
 * await using link = obj.program('on_exit').attach();
 */
export class BpfLink implements Closeable {
  #handle: NativeLinkHandle | undefined;
  readonly #onDestroy: (l: BpfLink) => void;
  /** What this link attaches, e.g. `tracepoint/timer/hrtimer_expire_exit`. */
  readonly target: string;

  /** @internal */
  constructor(handle: NativeLinkHandle, target: string, onDestroy: (l: BpfLink) => void) {
    this.#handle = handle;
    this.target = target;
    this.#onDestroy = onDestroy;
  }

  /** The link's fd (borrowed: valid until `destroy()`). */
  get fd(): number {
    if (!this.#handle) throw new ClosedError(`link ${this.target}`);
    return this.#handle.fd();
  }

  /** True until destroyed. */
  get attached(): boolean {
    return this.#handle !== undefined;
  }

  /** Detaches the program. Idempotent. */
  destroy(): void {
    const h = this.#handle;
    if (!h) return;
    this.#handle = undefined;
    h.destroy();
    this.#onDestroy(this);
  }

  /** Same as `destroy()`, for a parent that closes its children. */
  close(): void {
    this.destroy();
  }

  /**
   * Detaches the program on a thread of the libuv pool and resolves when it is detached.
   * Detaching from a tracepoint waits for RCU grace periods (tens of ms), which `destroy()`
   * spends blocking the event loop; closing many links this way overlaps the waits. The
   * link is unusable at once (`attached` is false). Idempotent. Minimum kernel: as attach.
   *
   * @example
   * await Promise.all(links.map((l) => l.closeAsync()));
   */
  closeAsync(): Promise<void> {
    const h = this.#handle;
    if (!h) return Promise.resolve();
    this.#handle = undefined;
    this.#onDestroy(this);
    return h.destroyAsync();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.closeAsync();
  }
}
