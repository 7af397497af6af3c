/**
 * The traffic scenarios, identical for every target: hop latency, 1 → N
 * fan-out, and many small conversations at once.
 */
import { cpuMs } from '../lib/proc';
import { runTraffic, type TrafficOptions, type TrafficResult } from '../lib/traffic';
import type { Room, Target } from '../targets/target';

export interface Measured extends TrafficResult {
  /** CPU time the target's server processes spent during the run, per token and per delivery (µs). */
  serverCpuMs: number;
  serverCpuUsPerToken: number;
  serverCpuUsPerDelivery: number;
  /** Bytes the receiving clients read from the network per delivery (frames as sent, after any compression), where counted. */
  wireBytesPerDelivery?: number;
}

/** Runs traffic and weighs the server's CPU time (robust to other processes, unlike wall-clock rates). */
export async function weighed(t: Target, rooms: Room[], opts: TrafficOptions): Promise<Measured> {
  const cpu = () => t.pids().reduce((sum, pid) => sum + cpuMs(pid), 0);
  const before = cpu();
  const bytesBefore = t.bytesReceived?.();
  const r = await runTraffic(rooms, opts);
  const serverCpuMs = cpu() - before;
  const bytes = bytesBefore === undefined ? undefined : t.bytesReceived!() - bytesBefore;
  return {
    ...r, serverCpuMs, serverCpuUsPerToken: (serverCpuMs * 1000) / r.tokens, serverCpuUsPerDelivery: (serverCpuMs * 1000) / r.deliveries,
    ...(bytes === undefined ? {} : { wireBytesPerDelivery: bytes / r.deliveries }),
  };
}

/** Stays under AMS's emit limit (1,000 tokens/s per stream, burst 2,000) with 5 % to spare. */
export const EMIT_PACE = { perSecond: 950, burst: 1_900 };
export const PAYLOAD_BYTES = 32;

export interface Scale {
  hopTokens: number;
  hopWarmup: number;
  fanoutTokens: (n: number) => number;
  manyRooms: number;
  manyTokens: number;
}

export const FULL: Scale = {
  hopTokens: 5_000,
  hopWarmup: 500,
  fanoutTokens: (n) => (n >= 100 ? 300 : 1_900),
  manyRooms: 100,
  manyTokens: 100,
};

export const QUICK: Scale = {
  hopTokens: 1_000,
  hopWarmup: 200,
  fanoutTokens: (n) => (n >= 100 ? 60 : 400),
  manyRooms: 20,
  manyTokens: 25,
};

/**
 * Hop latency: one token in flight, emitter → one subscriber, round-robin over
 * eight streams of one owner so that no stream nears its emit limit.
 */
export async function hop(t: Target, scale: Scale): Promise<Measured> {
  const room = await t.room({ owners: [8], listeners: 1 });
  try {
    const opts = { window: 1, windowScope: 'global' as const, rate: EMIT_PACE, payloadBytes: PAYLOAD_BYTES, stallMs: 10_000 };
    await runTraffic([room], { ...opts, tokensPerPublisher: Math.ceil(scale.hopWarmup / 8) });
    return await weighed(t, [room], { ...opts, tokensPerPublisher: Math.ceil(scale.hopTokens / 8) });
  } finally {
    await room.close();
  }
}

/**
 * Fan-out: one emitter with ten streams → N listeners; up to 512 tokens in
 * flight, each stream paced within the per-stream emit limit. Together the
 * ten streams emit more than one AMS account may in one conversation
 * (`emitRatePerAccountPerSecond`), so on AMS each has an account of its own,
 * deaf to the other nine (`beyondOneAccount`); the deliveries are the same.
 */
export async function fanout(t: Target, n: number, scale: Scale): Promise<Measured> {
  const room = await t.room({ owners: [10], listeners: n, beyondOneAccount: true });
  try {
    return await weighed(t, [room], {
      tokensPerPublisher: scale.fanoutTokens(n), window: 512, windowScope: 'global', rate: EMIT_PACE, payloadBytes: PAYLOAD_BYTES, stallMs: 15_000,
    });
  } finally {
    await room.close();
  }
}

/** Many conversations: R rooms × 4 peers of 4 owners, all emitting at once, each peer with up to 4 tokens in flight. */
export async function many(t: Target, scale: Scale): Promise<Measured> {
  const rooms = [];
  try {
    for (let i = 0; i < scale.manyRooms; i++) rooms.push(await t.room({ owners: [1, 1, 1, 1], listeners: 0 }));
    return await weighed(t, rooms, {
      tokensPerPublisher: scale.manyTokens, window: 4, windowScope: 'publisher', rate: EMIT_PACE, payloadBytes: PAYLOAD_BYTES, stallMs: 15_000,
    });
  } finally {
    await Promise.all(rooms.map((r) => r.close()));
  }
}
