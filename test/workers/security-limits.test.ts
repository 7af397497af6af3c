/**
 * Rate limits on POST …/tokens: a batch beyond the stream's token bucket is
 * refused whole with 429 rate_limited, and nothing of it is logged. (A socket
 * flooding faster than the bucket refills is cut off with 4929: that needs a
 * broker faster than the test pool, so the chaos runner checks it against
 * real `wrangler dev` — test/chaos/scenarios.)
 *
 * The conversation's clock is held still while the batches arrive, so the
 * bucket cannot refill between them: how many are accepted does not depend
 * on how fast the machine processes them.
 */
import { env, runInDurableObject, SELF } from 'cloudflare:test';
import { beforeAll, expect, it } from 'vitest';
import { LIMITS } from '../../src/protocol/limits';
import { Bystander, connect, createAccount, expectDocumentedError, heartbeat, mint, routeOf, type TestAccount, type TestConversation } from '../fuzz/workerd';

let A: TestAccount;
let B: TestAccount;
let conv: TestConversation;
let bystander: Bystander;

beforeAll(async () => {
  A = await createAccount('lim-a');
  B = await createAccount('lim-b');
  conv = await mint(A);
  bystander = await Bystander.open(conv.observer_link);
});

it('answers 429 rate_limited to batches beyond the burst, logging none of a refused batch', async () => {
  const keeper = await connect(conv.magic_link, { credential: A.credential, headers: { 'x-ams-receipts': '1' } });
  await keeper.joined();
  const from = bystander.count;
  const object = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${A.namespace}/${conv.alias}`));
  type Clocked = { conv: { clock: () => number } };
  const held = Date.now();
  await runInDurableObject(object, (o) => void ((o as unknown as Clocked).conv.clock = () => held));
  const batch = (k: number) => JSON.stringify(Array.from({ length: LIMITS.tokensPerBatch }, (_, i) => `b${k}-${i}`));
  const results = await Promise.all([0, 1, 2, 3].map((k) => SELF.fetch(routeOf(conv.magic_link, '/tokens', { stream_name: 'batcher' }), {
    method: 'POST', headers: { authorization: `Bearer ${B.credential}`, 'content-type': 'application/json' }, body: batch(k),
  })));
  await runInDurableObject(object, (o) => void ((o as unknown as Clocked).conv.clock = Date.now));
  const accepted: number[] = [];
  for (const [k, res] of results.entries()) {
    if (res.status === 200) accepted.push(k);
    else expect(await expectDocumentedError(res)).toBe('rate_limited');
  }
  // A full bucket holds the burst: exactly that many whole batches, the rest refused.
  expect(accepted.length).toBe(LIMITS.emitBurst / LIMITS.tokensPerBatch);
  await heartbeat(keeper, bystander, 'after the batches');
  const heard = bystander.tokensSince(from).map((t) => t.data).filter((d) => d !== 'after the batches');
  // Whole batches only, each in its own order.
  expect(heard.length).toBe(accepted.length * LIMITS.tokensPerBatch);
  const byBatch = new Map<string, string[]>();
  for (const d of heard) byBatch.set(d.split('-')[0], [...(byBatch.get(d.split('-')[0]) ?? []), d]);
  expect([...byBatch.keys()].sort()).toEqual(accepted.map((k) => `b${k}`).sort());
  for (const [k, items] of byBatch) expect(items).toEqual(Array.from({ length: LIMITS.tokensPerBatch }, (_, i) => `${k}-${i}`));
  bystander.assertIntact();
  await keeper.close();
}, 60_000);
