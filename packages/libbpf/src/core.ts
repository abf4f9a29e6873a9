// The state shared by an object and every map/program handle taken from it, so that a
// handle knows when its object was loaded or closed.
import { ClosedError } from './errors';
import type { NativeObjectHandle } from './native';

/** Anything an object closes when it closes; `closeAsync` when closing waits on the kernel. */
export interface Closeable {
  close(): void;
  closeAsync?(): Promise<void>;
}

/** @internal */
export class ObjectCore {
  state: 'open' | 'loaded' | 'closed' = 'open';
  readonly children = new Set<Closeable>();

  constructor(readonly handle: NativeObjectHandle, readonly name: string) {}

  /** Throws unless the object is in `phase`; `what` names the thing being used. */
  require(phase: 'open' | 'loaded', what: string): NativeObjectHandle {
    if (this.state === phase) return this.handle;
    if (this.state === 'closed') throw new ClosedError(`${what} of BPF object '${this.name}'`);
    if (phase === 'open') {
      throw new ClosedError(`${what} of OpenBpfObject '${this.name}'`, 'cannot be used after load()',
        'use the BpfObject that load() returned');
    }
    throw new ClosedError(`${what} of BPF object '${this.name}'`, 'is not loaded yet', 'call load() first');
  }

  close(): void {
    if (this.state === 'closed') return;
    for (const c of [...this.children]) {
      try {
        c.close();
      } catch {
        // closing is best effort: one failing child must not keep the others open
      }
    }
    this.children.clear();
    this.state = 'closed';
    this.handle.close();
  }

  /**
   * As `close()`, with the children that can close off the JS thread (links) closed so, all
   * at once; the object itself closes when they are done. Unusable from the first call.
   */
  async closeAsync(): Promise<void> {
    if (this.state === 'closed') return;
    const children = [...this.children];
    this.children.clear();
    this.state = 'closed';
    const waits = children.map((c) => {
      try {
        return c.closeAsync ? c.closeAsync().catch(() => undefined) : (c.close(), undefined);
      } catch {
        return undefined; // best effort, as in close()
      }
    });
    try {
      await Promise.all(waits);
    } finally {
      this.handle.close();
    }
  }
}
