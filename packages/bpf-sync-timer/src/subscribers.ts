// Subscriber ids: bits 0..63 of the trigger mask.
import { SyncTimerError } from './errors';

/** How many subscribers one timer serves (bits in trigger_mask). */
export const MAX_SUBSCRIBERS = 64;

/** Hands out the lowest free id; ids can be given back. */
export class IdAllocator {
  #used = 0n;

  /** Takes the lowest free id (0..63); IDS_EXHAUSTED when all 64 are taken. */
  assign(): number {
    for (let id = 0; id < MAX_SUBSCRIBERS; id++) {
      const bit = 1n << BigInt(id);
      if ((this.#used & bit) === 0n) {
        this.#used |= bit;
        return id;
      }
    }
    throw new SyncTimerError('IDS_EXHAUSTED', `all ${MAX_SUBSCRIBERS} subscriber ids are assigned; releaseId() one first`);
  }

  /** Gives an id back. INVALID_ID when out of range, ID_NOT_ASSIGNED when not taken. */
  release(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= MAX_SUBSCRIBERS) {
      throw new SyncTimerError('INVALID_ID', `subscriber id must be an integer in 0..${MAX_SUBSCRIBERS - 1}, got ${String(id)}`);
    }
    const bit = 1n << BigInt(id);
    if ((this.#used & bit) === 0n) throw new SyncTimerError('ID_NOT_ASSIGNED', `subscriber id ${id} is not assigned`);
    this.#used &= ~bit;
  }

  /** Ids currently assigned, ascending. */
  get assigned(): number[] {
    const out: number[] = [];
    for (let id = 0; id < MAX_SUBSCRIBERS; id++) if (this.#used & (1n << BigInt(id))) out.push(id);
    return out;
  }
}
