/**
 * Emit rate limits: token buckets per stream and per account (within one
 * conversation), so an account rotating stream names gets no more than its
 * own budget. Time in milliseconds.
 */
import { LIMITS } from '../protocol/limits';

/** A token bucket: `rate` tokens per second, holding at most `burst`. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly rate: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.last = now;
  }

  /** Whether `n` tokens are available now (refilling first); takes none. */
  has(n: number, now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
    return this.tokens >= n;
  }

  /** Takes `n` tokens if all are available; takes none otherwise. */
  take(n: number, now: number): boolean {
    if (!this.has(n, now)) return false;
    this.tokens -= n;
    return true;
  }
}

/** The buckets of one conversation: a token is emitted only when its stream's and its account's buckets both hold it. */
export class EmitRates {
  private readonly streams = new Map<string, TokenBucket>();
  private readonly accounts = new Map<string, TokenBucket>();

  /** Takes `n` from both buckets, or from neither. */
  take(streamId: string, accountId: string, n: number, now: number): boolean {
    const s = bucket(this.streams, streamId, LIMITS.emitRatePerSecond, LIMITS.emitBurst, now);
    const a = bucket(this.accounts, accountId, LIMITS.emitRatePerAccountPerSecond, LIMITS.emitBurstPerAccount, now);
    if (!s.has(n, now) || !a.has(n, now)) return false;
    s.take(n, now);
    a.take(n, now);
    return true;
  }

  /** A retired stream's bucket goes with it. */
  forget(streamId: string): void {
    this.streams.delete(streamId);
  }
}

function bucket(map: Map<string, TokenBucket>, key: string, rate: number, burst: number, now: number): TokenBucket {
  let b = map.get(key);
  if (!b) map.set(key, b = new TokenBucket(rate, burst, now));
  return b;
}
