/**
 * The one client interface every broker is driven through, so AMS and each
 * baseline run the same scenarios with the same harness.
 *
 * A room is a conversation (AMS), a room path (the bare relay), a subject
 * prefix (NATS) or a channel prefix (Redis). Publishing peers are grouped by
 * owner: a peer hears every publisher of the other owners and none of its own
 * owner's — AMS's self-exclusion, rebuilt with subjects or channels elsewhere.
 * Listeners publish nothing and hear everyone.
 */

export interface Peer {
  /** Sends one payload on this peer's stream (publishing peers only). */
  publish(payload: string): void;
  /** Set by the harness: every payload this peer hears, with the broker's seq (or -1 if it has none). */
  onMessage: (payload: string, seq: number) => void;
}

export interface RoomSpec {
  /** Publishing peers per owner: [10] = one owner with ten streams; [1, 1, 1, 1] = four owners with one each. */
  owners: number[];
  listeners: number;
  /** Listeners the broker refuses (a connection cap) are counted in `refused`, not a failure. */
  refusable?: boolean;
  /**
   * The owner's peers together emit more than one account may (AMS: `emitRatePerAccountPerSecond`):
   * a broker with accounts gives each peer its own, still hearing none of its fellow peers.
   */
  beyondOneAccount?: boolean;
}

export interface Room {
  /** Publishing peers, `owners[o][i]`. */
  readonly owners: Peer[][];
  readonly listeners: Peer[];
  /** Listeners the broker refused to admit, by close code (only with `refusable`). */
  readonly refused?: Map<number, number>;
  /** Opens `n` more listeners in the same room (appended to `listeners`). */
  addListeners(n: number): Promise<void>;
  close(): Promise<void>;
}

export interface Target {
  readonly name: string;
  /** Anything that went wrong outside a scenario's own checks (unexpected close, protocol error): fails the run. */
  onError: (message: string) => void;
  room(spec: RoomSpec): Promise<Room>;
  /** Server processes whose resident memory is this target's. */
  pids(): number[];
  /** Bytes this target's client sockets have read from the network so far, where the client can count them. */
  bytesReceived?(): number;
  stop(): Promise<void>;
}

export const noop = () => {};

/** Runs `fn` over `items` with at most `limit` in flight (connecting hundreds of sockets politely). */
export async function inBatches<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
