/**
 * Audience: one writer → N read-only listeners (100, 1,000 and 5,000). A broker
 * that caps connections (AMS admits 1,000 per conversation today, `4913`
 * beyond) is measured with the listeners it admitted, and the refusals are
 * reported as such. Which link AMS listeners use is the target's choice
 * (`AmsClientOptions.listenerLink`), so the same scenario measures audience
 * shards once listeners can be sent to them.
 */
import { profileObjects, SHARED, type ObjectCpu } from '../lib/object-cpu';
import { cpuMs } from '../lib/proc';
import type { Target } from '../targets/target';
import { EMIT_PACE, PAYLOAD_BYTES, weighed, type Measured } from './traffic';

export interface AudienceResult extends Measured {
  asked: number;
  admitted: number;
  /** Close code → listeners refused with it. */
  refused: Record<string, number>;
  /** AMS only: JavaScript CPU per object, from profiled repeats of the same scenario on a second broker. */
  objectCpu?: ObjectCpuResult;
}

export const AUDIENCES = [100, 1_000, 5_000];
/** Tokens the writer sends to N listeners: 100 to 100 and to 5,000 (the pair issue 15 compares hears the same stream), 200 to 1,000 (10,000, 200,000 and 500,000 deliveries). */
export const audienceTokens = (n: number, quick: boolean) => (quick ? 20 : n === 1_000 ? 200 : 100);

/**
 * `around` wraps the token phase only (after every listener is admitted,
 * before the room closes): the profiled repeat starts and stops its profile there.
 */
export async function audience(t: Target, n: number, tokens: number, around: <T>(traffic: () => Promise<T>) => Promise<T> = (traffic) => traffic()): Promise<AudienceResult> {
  const room = await t.room({ owners: [1], listeners: n, refusable: true });
  try {
    const admitted = room.listeners.length;
    const refused = Object.fromEntries([...(room.refused ?? new Map<number, number>())].map(([code, count]) => [String(code), count]));
    if (admitted === 0) throw new Error(`every listener was refused: ${JSON.stringify(refused)}`);
    const r = await around(() => weighed(t, [room], { tokensPerPublisher: tokens, window: 512, windowScope: 'global', rate: EMIT_PACE, payloadBytes: PAYLOAD_BYTES, stallMs: 60_000 }));
    return { ...r, asked: n, admitted, refused };
  } finally {
    await room.close();
  }
}

/** V8's sampling interval for the profiled repeats (DevTools' "high resolution" setting); the sampler keeps about 200–300 µs on this machine. */
export const PROFILE_INTERVAL_US = 100;

/** One profiled repeat: JavaScript time per token by owner (bench/lib/object-cpu.ts), beside the runtime's total in the same repeat. */
export interface ObjectCpuRun {
  tokens: number;
  periodUs: number;
  usPerToken: Record<string, number>;
  samples: Record<string, number>;
  /** The runtime process's CPU per token in this repeat, less the profiler's own thread (its signals stay in). */
  runtimeUsPerToken: number;
  /** The functions with the most samples, per owner. */
  top: ObjectCpu['top'];
}

export interface ObjectCpuResult {
  intervalUs: number;
  runs: ObjectCpuRun[];
  /** The conversation object's JavaScript CPU per token: median over the repeats, and their range. */
  conversation: { median: number; min: number; max: number };
}

/**
 * The audience scenario repeated `repeats` times with the isolate profiled
 * during the token phase. Meant for a broker that no timed row weighs: the
 * profiler's own thread and signals cost the runtime CPU.
 */
export async function audienceObjectCpu(t: Target, inspectorPort: number, n: number, tokens: number, repeats: number): Promise<ObjectCpuResult> {
  const runs: ObjectCpuRun[] = [];
  const profilerThread = () => t.pids().reduce((sum, pid) => sum + cpuMs(pid, /^v8:ProfEvntProc$/), 0);
  for (let i = 0; i < repeats; i++) {
    let cpu: ObjectCpu | undefined;
    let profilerMs = 0;
    const r = await audience(t, n, tokens, async (traffic) => {
      const p = await profileObjects(inspectorPort, PROFILE_INTERVAL_US, async () => {
        const before = profilerThread();
        const value = await traffic();
        profilerMs = profilerThread() - before;
        return value;
      });
      cpu = p.cpu;
      return p.value;
    });
    const owners = { 'conversation object': 0, 'audience shards': 0, Worker: 0, [SHARED]: 0, ...Object.fromEntries(Object.entries(cpu!.js).map(([k, v]) => [k, v.samples])) };
    runs.push({
      tokens: r.tokens,
      periodUs: cpu!.periodUs,
      samples: owners,
      usPerToken: Object.fromEntries(Object.entries(owners).map(([k, samples]) => [k, (samples * cpu!.periodUs) / r.tokens])),
      runtimeUsPerToken: r.serverCpuUsPerToken - (profilerMs * 1000) / r.tokens,
      top: cpu!.top,
    });
  }
  const conv = runs.map((r) => r.usPerToken['conversation object']).sort((a, b) => a - b);
  return { intervalUs: PROFILE_INTERVAL_US, runs, conversation: { median: conv[Math.floor(conv.length / 2)], min: conv[0], max: conv[conv.length - 1] } };
}
