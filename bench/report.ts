/** The human table: AMS against each baseline, scenario by scenario, then the targets. */
import type { Measured as TrafficResult } from './scenarios/traffic';
import type { McpResult } from './scenarios/mcp';
import type { UtteranceResult } from './scenarios/utterances';
import type { MemoryResult } from './scenarios/memory';
import type { ResumeResult } from './scenarios/resume';
import type { CompressionResult } from './scenarios/compression';
import type { AudienceResult } from './scenarios/audience';

export type Entry<T> = ({ status: 'ok' } & T) | { status: 'skipped'; reason: string } | { status: 'failed'; error: string };
export type ByTarget<T> = Record<string, Entry<T>>;

export interface Goal {
  goal: string;
  value: string;
  met: boolean;
}

export interface Results {
  meta: Record<string, unknown>;
  targets: Record<string, { status: 'ok'; version?: string; url?: string } | { status: 'skipped'; reason: string }>;
  hop: ByTarget<TrafficResult>;
  fanout: Record<string, ByTarget<TrafficResult>>;
  compression: ByTarget<CompressionResult>;
  audience: Record<string, ByTarget<AudienceResult>>;
  many: ByTarget<TrafficResult>;
  resume: ByTarget<ResumeResult>;
  mcp: ByTarget<McpResult>;
  utterances: ByTarget<UtteranceResult>;
  memory: ByTarget<MemoryResult>;
  goals: Goal[];
  failures: string[];
}

export const AMS = 'AMS';

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(3));

/** "AMS 3.2× slower" / "AMS 1.4× faster", from AMS's and this row's figure. */
function versus(amsValue: number | undefined, value: number, higherIsBetter: boolean): string {
  if (amsValue === undefined || !Number.isFinite(amsValue) || !Number.isFinite(value) || value === 0 || amsValue === 0) return '';
  const amsBetter = higherIsBetter ? amsValue >= value : amsValue <= value;
  const ratio = amsBetter ? (higherIsBetter ? amsValue / value : value / amsValue) : (higherIsBetter ? value / amsValue : amsValue / value);
  if (ratio < 1.05) return 'AMS ≈ same';
  return `AMS ${ratio.toFixed(1)}× ${amsBetter ? (higherIsBetter ? 'higher' : 'faster') : (higherIsBetter ? 'lower' : 'slower')}`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)];
}

function skippedRow<T>(name: string, e: Entry<T>, width: number): string[] | undefined {
  if (e.status === 'ok') return undefined;
  return [name, e.status === 'skipped' ? `skipped: ${e.reason}` : `FAILED: ${e.error.split('\n')[0]}`, ...Array(width - 2).fill('')];
}

export function render(r: Results): string {
  const out: string[] = [];
  const m = r.meta as Record<string, any>;
  out.push(`AMS benchmark — ${m.startedAt}`);
  out.push(`machine: ${m.machine.cpus} × ${m.machine.cpuModel}, ${m.machine.memoryGiB} GiB, ${m.machine.kernel}; Node ${m.machine.node}, wrangler ${m.machine.wrangler}, workerd ${m.machine.workerd}`);
  out.push(`load: ${m.cpuBusyBeforePct.toFixed(0)} % of all cores busy before the run (other processes), load average ${m.loadBefore.map((x: number) => x.toFixed(1)).join(' ')} → ${m.loadAfter.map((x: number) => x.toFixed(1)).join(' ')}`);
  out.push(`source: ${m.source} @ ${String(m.commit).slice(0, 10)}${m.dirty ? ' + uncommitted changes' : ''}; scale: ${m.scale}`);
  out.push(`targets: ${Object.entries(r.targets).map(([k, v]) => (v.status === 'ok' ? `${k}${v.version ? ` (${v.version})` : ''}` : `${k} — skipped: ${v.reason}`)).join('; ')}`);
  const amsTarget = r.targets[AMS] as { negotiated?: string } | undefined;
  if (amsTarget?.negotiated) out.push(`AMS clients ${m.clientCompression ? 'offer permessage-deflate, as ws and browsers do by default' : 'decline permessage-deflate (--no-compression)'}; the broker negotiated: ${amsTarget.negotiated}`);

  const amsOf = <T>(by: ByTarget<T>): (T & { status: 'ok' }) | undefined => (by[AMS]?.status === 'ok' ? (by[AMS] as T & { status: 'ok' }) : undefined);

  out.push('', '1. Hop latency: emitter → subscriber, one token in flight (ms)');
  {
    const a = amsOf(r.hop);
    const rows = Object.entries(r.hop).map(([name, e]) => skippedRow(name, e, 8) ?? (() => {
      const t = e as TrafficResult;
      return [name, ms(t.latency.p50), ms(t.latency.p90), ms(t.latency.p99), ms(t.latency.max), n0(t.latency.n), n0(t.serverCpuUsPerToken), name === AMS ? '' : `p50: ${versus(a?.latency.p50, t.latency.p50, false)}; p99: ${versus(a?.latency.p99, t.latency.p99, false)}`];
    })());
    out.push(...table(['', 'p50', 'p90', 'p99', 'max', 'tokens', 'server CPU µs/token', 'vs AMS'], rows));
  }

  out.push('', '2. Fan-out: 1 emitter with 10 streams (on AMS one account each) → N subscribers, every delivery checked');
  for (const [n, by] of Object.entries(r.fanout)) {
    const a = amsOf(by);
    const rows = Object.entries(by).map(([name, e]) => skippedRow(name, e, 8) ?? (() => {
      const t = e as TrafficResult;
      return [name, n0(t.deliveriesPerSecond), n0(t.tokensPerSecond), ms(t.latency.p50), ms(t.latency.p99), n0(t.deliveries) + (t.bucketWaits > 0 ? ' (paced)' : ''), t.serverCpuUsPerDelivery.toFixed(1), name === AMS ? '' : versus(a?.deliveriesPerSecond, t.deliveriesPerSecond, true)];
    })());
    out.push(`  N = ${n}`, ...table(['', 'deliveries/s', 'tokens/s', 'p50 ms', 'p99 ms', 'deliveries', 'server CPU µs/delivery', 'vs AMS'], rows).map((l) => `  ${l}`));
  }

  if (Object.keys(r.compression).length > 0) {
    out.push('', '2b. Compression: 1 emitter with 10 streams (on AMS one account each) → 10 subscribers, client offering permessage-deflate (as ws and browsers do) or not');
    const first = Object.values(r.compression).find((e) => e.status === 'ok') as CompressionResult | undefined;
    const rows = Object.entries(r.compression).map(([name, e]) => skippedRow(name, e, 8) ?? (() => {
      const t = e as CompressionResult;
      const vs = t === first ? '' : versus(first?.deliveriesPerSecond, t.deliveriesPerSecond, true).replace('AMS', 'first row');
      return [name, t.negotiated, n0(t.deliveriesPerSecond), ms(t.latency.p50), ms(t.latency.p99), t.serverCpuUsPerDelivery.toFixed(1), t.wireBytesPerDelivery === undefined ? '' : t.wireBytesPerDelivery.toFixed(1), vs];
    })());
    out.push(...table(['', 'negotiated', 'deliveries/s', 'p50 ms', 'p99 ms', 'server CPU µs/delivery', 'wire B/delivery', 'vs first row'], rows));
  }

  if (Object.keys(r.audience).length > 0) {
    out.push('', '2c. Audience: 1 writer → N read-only listeners (AMS: observer links), every delivery checked; refused listeners are counted, not measured');
    const profiled = Object.values(r.audience).map((by) => amsOf(by)?.objectCpu).find((o) => o !== undefined);
    if (profiled) {
      out.push(`  "conversation object CPU µs/token": its JavaScript CPU per token, median (range) of ${profiled.runs.length} profiled repeat${profiled.runs.length > 1 ? 's' : ''} of the row on a second broker`);
      out.push(`  (V8 profiler at ${profiled.intervalUs} µs; samples attributed by the first owned source module on their stack; bench/lib/object-cpu.ts). "server CPU" stays the runtime process's total, unprofiled.`);
    }
    for (const [n, by] of Object.entries(r.audience)) {
      const a = amsOf(by);
      const rows = Object.entries(by).map(([name, e]) => skippedRow(name, e, 11) ?? (() => {
        const t = e as AudienceResult;
        const refused = Object.entries(t.refused).map(([code, count]) => `${n0(count)} × ${code}`).join(', ') || '0';
        const conv = t.objectCpu ? `${n0(t.objectCpu.conversation.median)} (${n0(t.objectCpu.conversation.min)}–${n0(t.objectCpu.conversation.max)})` : '';
        return [name, `${n0(t.admitted)} / ${n0(t.asked)}`, refused, n0(t.deliveriesPerSecond), ms(t.latency.p50), ms(t.latency.p99), n0(t.deliveries), n0(t.serverCpuUsPerToken), t.serverCpuUsPerDelivery.toFixed(1), conv, name === AMS ? '' : versus(a?.deliveriesPerSecond, t.deliveriesPerSecond, true)];
      })());
      out.push(`  N = ${Number(n).toLocaleString('en-US')}`, ...table(['', 'admitted', 'refused', 'deliveries/s', 'p50 ms', 'p99 ms', 'deliveries', 'server CPU µs/token', 'µs/delivery', 'conversation object CPU µs/token', 'vs AMS'], rows).map((l) => `  ${l}`));
      if (a?.objectCpu) {
        for (const [i, run] of a.objectCpu.runs.entries()) {
          const parts = Object.entries(run.usPerToken).filter(([, us]) => us > 0).map(([owner, us]) => `${owner} ${n0(us)} (${n0(run.samples[owner])} samples)`);
          out.push(`    profiled repeat ${i + 1}: JS µs/token — ${parts.join(', ')}; sampler period ${n0(run.periodUs)} µs; runtime total ${n0(run.runtimeUsPerToken)} µs/token with the profiler on`);
        }
      }
    }
  }

  out.push('', '3. Many conversations: rooms × 4 peers, all emitting at once');
  {
    const a = amsOf(r.many);
    const rows = Object.entries(r.many).map(([name, e]) => skippedRow(name, e, 7) ?? (() => {
      const t = e as TrafficResult;
      return [name, n0(t.deliveriesPerSecond), ms(t.latency.p50), ms(t.latency.p99), n0(t.deliveries), t.serverCpuUsPerDelivery.toFixed(1), name === AMS ? '' : `${versus(a?.deliveriesPerSecond, t.deliveriesPerSecond, true)}; p99: ${versus(a?.latency.p99, t.latency.p99, false)}`];
    })());
    out.push(...table(['', 'deliveries/s', 'p50 ms', 'p99 ms', 'deliveries', 'server CPU µs/delivery', 'vs AMS'], rows));
  }

  out.push('', '4. Resume: reconnect and receive missed frames (median of repeats)');
  {
    const a = amsOf(r.resume);
    const rows = Object.entries(r.resume).map(([name, e]) => skippedRow(name, e, 6) ?? (() => {
      const t = e as ResumeResult;
      return [name, n0(t.frames), ms(t.replayMs), ms(t.connectMs), n0(t.framesPerSecond), name === AMS ? '' : versus(a?.replayMs, t.replayMs, false)];
    })());
    out.push(...table(['', 'frames', 'replay ms', 'connect-only ms', 'frames/s', 'vs AMS'], rows));
  }

  out.push('', '5. MCP path: ams_send → peer ams_recv (long-poll), one in flight (ms)');
  {
    const rows = Object.entries(r.mcp).map(([name, e]) => skippedRow(name, e, 6) ?? (() => {
      const t = e as McpResult;
      return [name, ms(t.latency.p50), ms(t.latency.p90), ms(t.latency.p99), ms(t.latency.max), n0(t.latency.n)];
    })());
    out.push(...table(['', 'p50', 'p90', 'p99', 'max', 'tokens'], rows));
  }

  out.push('', '5b. Utterances: context bytes per character of peer text, and ms from the peer\'s end token (median of rounds)');
  for (const [name, e] of Object.entries(r.utterances ?? {})) {
    const skipped = skippedRow(name, e, 8);
    if (skipped) {
      out.push(...table([''], [skipped.slice(0, 2)]));
      continue;
    }
    const t = e as UtteranceResult;
    const rows = t.rows.map((row) => [
      `${n0(row.tokens)} tokens`, n0(row.chars), row.recvBytesPerChar.toFixed(2), n0(row.recvCalls), row.pushBytesPerChar.toFixed(2), ms(row.recvMs), ms(row.pushMs),
    ]);
    out.push(...table(['', 'chars', 'ams_recv B/char', 'recv calls', 'push B/char', 'recv ms', 'push ms'], rows));
  }

  out.push('', '6. Memory: resident memory per 1,000 idle subscriber connections');
  {
    const a = amsOf(r.memory);
    const rows = Object.entries(r.memory).map(([name, e]) => skippedRow(name, e, 5) ?? (() => {
      const t = e as MemoryResult;
      return [name, `${t.perThousandMiB.toFixed(1)} MiB`, `${t.rssBeforeMiB.toFixed(0)} → ${t.rssAfterMiB.toFixed(0)} MiB`, n0(t.connections), name === AMS ? '' : versus(a?.perThousandMiB, t.perThousandMiB, false).replace('faster', 'smaller').replace('slower', 'larger')];
    })());
    out.push(...table(['', 'RSS per 1,000', 'server RSS', 'connections', 'vs AMS'], rows));
  }

  out.push('', 'Targets');
  for (const g of r.goals) out.push(`  ${g.met ? 'met    ' : 'NOT MET'}  ${g.goal}: ${g.value}`);
  if (r.failures.length > 0) {
    out.push('', `CORRECTNESS FAILURES (${r.failures.length}):`);
    for (const f of r.failures) out.push(`  ${f}`);
  } else {
    out.push('', 'Correctness: every delivery of every scenario arrived once, in order, at exactly the receivers that should hear it.');
  }
  return out.join('\n');
}
