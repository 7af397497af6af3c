/**
 * Webhooks under a flapping receiver: a burst of utterances while the
 * receiver is down, then a receiver that fails, hangs or answers at random
 * (seeded). Every utterance must reach it at least once, in order, exactly
 * once after de-duplication by `webhook-id`, each delivery verified with the
 * `standardwebhooks` library — and the conversation's fan-out must not wait
 * for any of it.
 */
import { linkRoute } from '../../../src/client';
import { startReceiver, type Answer, type Delivery } from '../../support/receiver';
import { assert, loggedOf, receiptsOf, type World } from '../world';
import type { Scenario } from '../runner';

/** The retry schedule the chaos broker runs with (World.start passes it): short enough to flap many times in a run. */
export const CHAOS_WEBHOOK_POLICY = { timeoutMs: 800, retryBaseMs: 40, retryCapMs: 300, budgetMs: 120_000 };

export const webhookFlapping: Scenario = {
  name: 'webhook-flapping',
  what: 'a webhook receiver is down during a burst of utterances, then flaps (errors, hangs, answers at random): every utterance is delivered at least once, in order, exactly once after dedup by webhook-id, and the fan-out never waits for it',
  async run(w) {
    const A = await w.account('hook-a');
    const B = await w.account('hook-b');
    const conv = await w.mint(A);
    w.track(A, conv);
    const receiver = await startReceiver();
    let down = true;
    const attempts: Array<{ d: Delivery; ok: boolean }> = [];
    receiver.answer = (d): Answer => {
      const roll = w.rand();
      const answer: Answer = down || roll < 0.35 ? { status: 503 } : roll < 0.45 ? 'hang' : { status: 204 };
      attempts.push({ d, ok: answer !== 'hang' && answer.status === 204 });
      if (answer === 'hang' || answer.status !== 204) w.tally.faults += 1;
      return answer;
    };
    try {
      const res = await fetch(linkRoute(conv.magic_link, 'webhooks'), {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${A.credential}` }, body: JSON.stringify({ url: receiver.url, stream_name: 'hook' }),
      });
      const hook = (await res.json()) as { webhook_id: string; secret: string };
      assert.equal(res.status, 201, `registration answered ${res.status}`);
      receiver.secret = hook.secret;

      const observers = Array.from({ length: w.n(3, 10) }, () => w.open(conv.observer_link));
      const speaker = w.open(conv.magic_link, { credential: B.credential, streamName: 'burst', receipts: true });
      await Promise.all([speaker.joined, ...observers.map((o) => o.joined)]);
      const n = w.n(40, 300);
      for (let i = 0; i < n; i++) speaker.send(`u${i}`, { end: true });
      w.tally.tokensEmitted += n;
      await w.until(() => receiptsOf(speaker).length >= n, `${n} receipts`);
      const last = receiptsOf(speaker).at(-1)!.seq;
      // The fan-out finishes while the receiver is still down: it waited for no delivery.
      await w.untilProgressing(() => observers.every((o) => o.lastSeq >= last), () => observers.reduce((k, o) => k + o.lastSeq, 0), 'observers to hear the burst');
      assert.equal(attempts.filter((a) => a.ok).length, 0, 'nothing was delivered while the receiver was down');
      for (const o of observers) {
        const burst = loggedOf(o).filter((f) => f.type === 'token' && (f as { stream_name?: string }).stream_name === 'burst').map((f) => (f as { data: string }).data);
        assert.deepEqual(burst, Array.from({ length: n }, (_, i) => `u${i}`), 'an observer heard the burst in order');
        w.tally.framesVerified += burst.length;
      }

      down = false;
      const delivered = () => new Set(attempts.filter((a) => a.ok).map((a) => a.d.id)).size;
      await w.untilProgressing(() => delivered() >= n, delivered, `${n} deliveries through the flapping`, 30_000, () => `${delivered()} of ${n}`);
      assert.deepEqual(receiver.rejected, [], 'every delivery verified');
      // Exactly once after dedup, in order; at least once each.
      const firstOk = new Map<string, string>();
      for (const a of attempts) if (a.ok && !firstOk.has(a.d.id)) firstOk.set(a.d.id, a.d.body.text!);
      assert.deepEqual([...firstOk.values()], Array.from({ length: n }, (_, i) => `u${i}`), 'deliveries, deduplicated by webhook-id, are the burst in order');
      // In order: no message was attempted before the one ahead of it had been delivered.
      const done = new Set<string>();
      let expected = 0;
      for (const a of attempts) {
        const index = Number(a.d.body.text!.slice(1));
        assert.ok(index === expected, `attempt of u${index} while u${expected} was not yet delivered`);
        if (a.ok) {
          done.add(a.d.id);
          expected = index + 1;
        }
      }
      const ids = new Map<string, string>();
      for (const a of attempts) {
        assert.ok(!ids.has(a.d.id) || ids.get(a.d.id) === a.d.body.text, 'one webhook-id is one message');
        ids.set(a.d.id, a.d.body.text!);
      }
      w.tally.lost += n - done.size;

      const del = await fetch(linkRoute(conv.magic_link, `webhooks/${hook.webhook_id}`), {
        method: 'DELETE', headers: { authorization: `Bearer ${A.credential}` },
      });
      assert.equal(del.status, 200, 'the webhook is deleted');
      for (const s of [speaker, ...observers]) s.close();
      return { utterances: n, attempts: attempts.length, failed_attempts: attempts.filter((a) => !a.ok).length, delivered: done.size };
    } finally {
      await receiver.close();
    }
  },
};
