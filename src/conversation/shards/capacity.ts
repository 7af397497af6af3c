/**
 * A shard's share of its conversation's listener budget (decision 0112):
 * the capacity the conversation granted it (`lease`), the places taken out of
 * it (listeners, and admissions holding a place), and the calls that move
 * capacity between the two objects. Capacity moves only in amounts — granted,
 * released, reclaimed — and this side subtracts before it gives back, so the
 * conversation's count for the shard is never below what the shard uses.
 */
import { LIMITS } from '../../protocol/limits';

/** The conversation's side of the exchange (RPC). */
export interface CapacitySource {
  /** Asks for `need` more places (and up to `want` with headroom); answers the amount granted. */
  grant(need: number, want: number): Promise<number>;
  /** Gives `n` places back. */
  release(n: number): Promise<void>;
}

export class ShardCapacity {
  private lease = 0;
  /** Admissions holding a place (until they are listeners or refused). */
  private holding = 0;
  /** Admissions waiting for a place, and the one request for more capacity in flight, if any. */
  private waiting = 0;
  /** Resolves to whether it was granted all it asked for. */
  private asking: Promise<boolean> | null = null;
  private releasing = false;

  constructor(private readonly listeners: () => number, private readonly source: () => CapacitySource) {}

  /** Places taken: listeners, and admissions holding a place. */
  get taken(): number {
    return this.listeners() + this.holding;
  }

  /** The first grant, from the join (the shard held nothing before it). */
  start(granted: number): void {
    this.lease = granted;
  }

  /** Everything is forgotten (the shard is done, or its conversation is gone). */
  reset(): void {
    this.lease = 0;
  }

  /**
   * Holds a place for one more listener: under the per-shard cap and within
   * the lease. When the lease is full, one request at a time asks the
   * conversation for every admission waiting (a burst of connects is one
   * call, and no waiter hoards capacity another needs); an admission is
   * refused once a request made for it came back short.
   */
  async hold(): Promise<boolean> {
    this.waiting++;
    try {
      for (;;) {
        if (this.taken >= LIMITS.listenersPerShard) return false;
        if (this.taken < this.lease) {
          this.holding++;
          return true;
        }
        // A request covers every admission waiting when it leaves: if it came back short, there is no more to ask for.
        if (!this.asking) {
          const short = Math.min(this.taken + this.waiting, LIMITS.listenersPerShard) - this.lease;
          this.asking = this.source().grant(short, short + LIMITS.shardLeaseBlock)
            .then((granted) => ((this.lease += granted), granted >= short))
            .finally(() => (this.asking = null));
        }
        const enough = await this.asking!;
        if (!enough && this.taken >= this.lease) return false;
      }
    } finally {
      this.waiting--;
    }
  }

  /** A held place is given up: it became a listener (counted there now) or the admission failed. */
  unhold(): void {
    this.holding--;
  }

  /** Gives capacity back once the listeners that left this turn are gone (one call per burst of leaves), keeping a block of headroom while any listen. */
  releaseSoon(): void {
    if (this.releasing) return;
    this.releasing = true;
    setTimeout(() => {
      this.releasing = false;
      const need = this.taken;
      const spare = this.lease - need - (need === 0 ? 0 : LIMITS.shardLeaseBlock);
      if (spare <= 0) return;
      this.lease -= spare;
      this.source().release(spare).catch((err) => console.error('AMS audience shard: release failed', err));
    }, 0);
  }

  /** The conversation takes back what is not used; answers the amount. */
  reclaim(): number {
    const spare = Math.max(0, this.lease - this.taken);
    this.lease -= spare;
    return spare;
  }
}
