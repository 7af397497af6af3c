/**
 * `npm run chaos`: the full seeded scenario run against a real `wrangler dev`.
 *   --seed N       replay a run (default: a fixed seed; AMS_CHAOS_SEED also works)
 *   --short        the shortened form that `npm test` runs
 *   --only a,b     just these scenarios (the leak check always runs)
 *   --json FILE    also write the report as JSON
 * Exits non-zero when any scenario fails.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runChaos, SCENARIOS } from './runner';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    short: { type: 'boolean', default: false },
    only: { type: 'string' },
    json: { type: 'string' },
    list: { type: 'boolean', default: false },
  },
});

if (values.list) {
  for (const s of SCENARIOS) console.log(`${s.name}: ${s.what}`);
  process.exit(0);
}

const seed = Number(values.seed ?? process.env.AMS_CHAOS_SEED ?? 8);
const scale = values.short ? 'short' : 'full';
console.log(`AMS chaos run — seed ${seed}, ${scale} form`);
const t0 = Date.now();
const report = await runChaos({ seed, scale, only: values.only?.split(','), log: (line) => console.log(line) });
const t = report.tally;
console.log(`\n${report.ok ? 'PASS' : 'FAIL'} in ${((Date.now() - t0) / 1000).toFixed(1)} s — ${report.results.filter((r) => r.ok).length}/${report.results.length} scenarios`);
console.log(`connections opened ${t.connections} · tokens emitted ${t.tokensEmitted} · frames verified ${t.framesVerified} · receipts checked ${t.receiptsChecked} · faults injected ${t.faults} · bad inputs ${t.badInputs} · lost ${t.lost}`);
for (const r of report.results.filter((x) => !x.ok)) console.log(`✗ ${r.name}: ${(r.error ?? '').split('\n')[0]}`);
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
process.exit(report.ok ? 0 : 1);
