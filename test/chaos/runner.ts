/**
 * The seeded scenario runner. One real `wrangler dev` per run (restarted by
 * the scenarios that kill it), scenarios in a fixed order, each asserting
 * exact counts and order; then a leak check over every conversation the run
 * touched. The same seed replays the same choices.
 */
import { World, type Scale, type Tally } from './world';
import { recoveryStorm, killRestart, restartMidStream } from './scenarios/recovery';
import { concurrentEmitters, takeoverRaces, unrecoverableCursors } from './scenarios/order';
import { slowAndVanishing } from './scenarios/clients';
import { connectionCap, flood, malformedProtocol, oversizedFrames, rawWebSocket, streamRegistry } from './scenarios/abuse';
import { mcpSessions } from './scenarios/mcp';
import { limitsUnderAbuse } from './scenarios/limits';
import { webhookFlapping } from './scenarios/webhooks';

export interface Scenario {
  name: string;
  /** One sentence: what the scenario does to the broker. */
  what: string;
  /** Runs against the world; throws on any broken expectation; returns its figures. */
  run(w: World): Promise<Record<string, number>>;
}

export const SCENARIOS: Scenario[] = [
  concurrentEmitters,
  takeoverRaces,
  unrecoverableCursors,
  oversizedFrames,
  malformedProtocol,
  rawWebSocket,
  slowAndVanishing,
  flood,
  connectionCap,
  streamRegistry,
  limitsUnderAbuse,
  recoveryStorm,
  restartMidStream,
  killRestart,
  mcpSessions,
  webhookFlapping,
];

/** The last scenario of every run: nothing the run opened is still counted anywhere. */
export const leakCheck: Scenario = {
  name: 'no-leaks',
  what: 'after everyone has left, every conversation of the run counts 0 live connections (sockets, SSE tails, MCP memberships)',
  async run(w) {
    await w.closeAll();
    for (const { owner, alias } of w.tracked) await w.connectionsReach(owner, alias, 0);
    return { conversations: w.tracked.length };
  },
};

export interface ScenarioResult {
  name: string;
  what: string;
  ok: boolean;
  ms: number;
  figures: Record<string, number>;
  error?: string;
}

export interface RunReport {
  seed: number;
  scale: Scale;
  results: ScenarioResult[];
  tally: Tally;
  ok: boolean;
}

/** Runs scenarios in a world that is already started. */
export async function runScenario(w: World, s: Scenario): Promise<ScenarioResult> {
  const t0 = Date.now();
  try {
    const figures = await s.run(w);
    return { name: s.name, what: s.what, ok: true, ms: Date.now() - t0, figures };
  } catch (err) {
    return { name: s.name, what: s.what, ok: false, ms: Date.now() - t0, figures: {}, error: describeError(err, w) };
  }
}

/** The failure as a reader needs it: the broken expectation, what caused it (a failed fetch says why only there), and the broker's last words. */
function describeError(err: unknown, w: World): string {
  if (!(err instanceof Error)) return String(err);
  const lines = [err.stack ?? err.message];
  for (let cause = err.cause; cause !== undefined; cause = cause instanceof Error ? cause.cause : undefined) {
    lines.push(`caused by: ${cause instanceof Error ? `${cause.name}: ${cause.message}${'code' in cause ? ` (${String(cause.code)})` : ''}` : String(cause)}`);
  }
  const tail = w.broker?.output().trim().split('\n').slice(-15).join('\n');
  if (tail) lines.push(`broker output (last lines):\n${tail}`);
  return lines.join('\n');
}

export async function runChaos(opts: { seed: number; scale: Scale; only?: string[]; log?: (line: string) => void }): Promise<RunReport> {
  const w = new World(opts.seed, opts.scale, opts.log);
  await w.start();
  const results: ScenarioResult[] = [];
  try {
    const chosen = SCENARIOS.filter((s) => !opts.only || opts.only.includes(s.name));
    for (const s of [...chosen, leakCheck]) {
      opts.log?.(`▶ ${s.name}: ${s.what}`);
      const r = await runScenario(w, s);
      results.push(r);
      opts.log?.(`${r.ok ? '✓' : '✗'} ${s.name} (${r.ms} ms) ${JSON.stringify(r.figures)}${r.error ? `\n${r.error}` : ''}`);
    }
  } finally {
    await w.stop();
  }
  return { seed: opts.seed, scale: opts.scale, results, tally: w.tally, ok: results.every((r) => r.ok) };
}
