/**
 * The targets `npm run bench` checks (never as timed tests): each with the
 * figure it was judged on, from the primary AMS row (`npm run serve`'s
 * runtime, default clients). A target whose rows did not run is left out.
 */
import type { Goal, Results } from './report';

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const ok = <T>(e: { status: string } | undefined): (T & { status: 'ok' }) | undefined => (e?.status === 'ok' ? (e as T & { status: 'ok' }) : undefined);

export function goals(r: Results, names: { ams: string; disk: string }): Goal[] {
  const out: Goal[] = [];
  const hop = ok<{ latency: { p50: number; p99: number } }>(r.hop[names.ams]);
  const disk = ok<{ latency: { p50: number; p99: number } }>(r.hop[names.disk]);
  if (hop) {
    const onDisk = disk ? `; state on disk: ${disk.latency.p99.toFixed(3)} ms` : '';
    out.push({ goal: 'hop latency p99 ≤ 2 ms (state on tmpfs)', value: `${hop.latency.p99.toFixed(3)} ms (p50 ${hop.latency.p50.toFixed(3)} ms)${onDisk}`, met: hop.latency.p99 <= 2 });
  }

  const f10 = r.fanout['10'] ?? {};
  const a = ok<{ deliveriesPerSecond: number }>(f10[names.ams]);
  if (a) {
    const rate = (name: string) => ok<{ deliveriesPerSecond: number }>(f10[name])?.deliveriesPerSecond;
    const relay = rate('ws relay');
    if (relay) out.push({ goal: '1 → 10 fan-out, default clients, ≥ 0.5× the bare ws relay', value: `${n0(a.deliveriesPerSecond)}/s against ${n0(relay)}/s = ${(a.deliveriesPerSecond / relay).toFixed(2)}×`, met: a.deliveriesPerSecond >= 0.5 * relay });
    for (const peer of ['NATS JetStream (ws)', 'Redis Streams']) {
      const p = rate(peer);
      if (p) out.push({ goal: `1 → 10 fan-out ahead of ${peer}`, value: `${n0(a.deliveriesPerSecond)}/s against ${n0(p)}/s = ${(a.deliveriesPerSecond / p).toFixed(2)}×`, met: a.deliveriesPerSecond > p });
    }
  }

  const mcp = ok<{ latency: { p50: number } }>(r.mcp[names.ams]);
  if (mcp) out.push({ goal: 'MCP ams_send → peer ams_recv p50 ≤ 10 ms', value: `${mcp.latency.p50.toFixed(1)} ms`, met: mcp.latency.p50 <= 10 });

  const utt = ok<{ rows: { tokens: number; recvMs: number; pushMs: number }[] }>(r.utterances[names.ams]);
  if (utt) {
    const list = (pick: (row: { recvMs: number; pushMs: number }) => number) => utt.rows.map((row) => `${n0(row.tokens)} tokens ${pick(row).toFixed(0)} ms`).join(', ');
    out.push({ goal: "a peer's end token → the channel push ≤ 100 ms at any length", value: list((x) => x.pushMs), met: utt.rows.every((x) => x.pushMs <= 100) });
    out.push({ goal: "a peer's end token → a waiting ams_recv ≤ 100 ms at any length", value: list((x) => x.recvMs), met: utt.rows.every((x) => x.recvMs <= 100) });
  }

  const mem = ok<{ perThousandMiB: number }>(r.memory[names.ams]);
  const doRelay = ok<{ perThousandMiB: number }>(r.memory['workerd DO relay']);
  if (mem && doRelay) out.push({ goal: 'memory per idle connection ≤ 1.2× the bare Durable Object relay', value: `${mem.perThousandMiB.toFixed(1)} MiB per 1,000 against ${doRelay.perThousandMiB.toFixed(1)} MiB = ${(mem.perThousandMiB / doRelay.perThousandMiB).toFixed(2)}×`, met: mem.perThousandMiB <= 1.2 * doRelay.perThousandMiB });

  const perToken = (n: number) => ok<{ objectCpu?: { conversation: { median: number } } }>(r.audience[String(n)]?.[names.ams])?.objectCpu?.conversation.median;
  const [small, large] = [perToken(100), perToken(5_000)];
  // "Flat": within 2× from 100 to 5,000 listeners (the profile's repeats move by about that much on a shared machine).
  if (small !== undefined && large !== undefined) out.push({ goal: 'conversation object CPU per token flat from 100 to 5,000 listeners (within 2×)', value: `${small.toFixed(0)} → ${large.toFixed(0)} µs/token = ${(large / small).toFixed(2)}×`, met: large <= 2 * small });

  out.push({ goal: 'zero lost, duplicated or reordered deliveries', value: r.failures.length === 0 ? 'none in any scenario' : `${r.failures.length} failure(s)`, met: r.failures.length === 0 });
  return out;
}
