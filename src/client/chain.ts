/**
 * Verifying the conversation's hash chain from the frames a subscriber
 * received. Frames it did not receive (its own, under self-exclusion) are
 * bridged by the `chain` of its receipts, so a subscriber can still check
 * every link it holds; an observer can check them all.
 */
import { GENESIS_CHAIN, nextChain } from '../protocol/chain';
import type { LoggedFrame } from '../protocol/frames';

export interface ChainCheck {
  ok: boolean;
  /** The chain after the last verified frame. */
  head: string;
  /** The first seq whose `chain` did not match what the frames imply. */
  brokenAt?: number;
}

/**
 * Recomputes the chain over consecutive frames starting at seq 1 (or after
 * `start` = {seq, chain} of a trusted point) and compares it with each frame's `chain`.
 */
export function verifyChain(frames: Array<LoggedFrame & { chain?: string }>, start = { seq: 0, chain: GENESIS_CHAIN }): ChainCheck {
  let head = start.chain;
  let seq = start.seq;
  for (const frame of [...frames].sort((a, b) => a.seq - b.seq)) {
    if (frame.seq !== seq + 1) return { ok: false, head, brokenAt: seq + 1 };
    head = nextChain(head, frame);
    if (frame.chain !== undefined && frame.chain !== head) return { ok: false, head, brokenAt: frame.seq };
    seq = frame.seq;
  }
  return { ok: true, head };
}

export { GENESIS_CHAIN };
