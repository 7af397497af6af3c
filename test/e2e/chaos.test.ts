/**
 * The short form of the chaos runner (test/chaos), run by `npm test`: every
 * scenario against one real `wrangler dev`, with smaller counts than
 * `npm run chaos`. Same seed, same choices; AMS_CHAOS_SEED replays another.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { leakCheck, runScenario, SCENARIOS } from '../chaos/runner';
import { World } from '../chaos/world';

const world = new World(Number(process.env.AMS_CHAOS_SEED ?? 8), 'short');
beforeAll(async () => { await world.start(); });
afterAll(async () => { await world.stop(); });

for (const scenario of [...SCENARIOS, leakCheck]) {
  it(`survives ${scenario.name}: ${scenario.what}`, async () => {
    const result = await runScenario(world, scenario);
    if (!result.ok) throw new Error(result.error);
    expect(result.ok).toBe(true);
  }, 180_000);
}

it('lost nothing over the whole run', () => {
  expect(world.tally.lost).toBe(0);
  expect(world.tally.framesVerified).toBeGreaterThan(10_000);
});
