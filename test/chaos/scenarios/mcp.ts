/**
 * MCP sessions under a crash: agents (the official SDK client) join, send with
 * idempotency keys and long-poll `ams_recv`; `wrangler dev` is SIGKILLed and
 * restarted on the same state; the same session ids keep working, cursors
 * continue without a gap or a repeat, retries are exactly-once, and leaving
 * leaves nothing counted.
 */
import { mcpAgent, type McpAgent } from '../../e2e/mcp-client';
import { assert, assertContiguous, loggedOf, receiptsOf, type World } from '../world';
import type { Scenario } from '../runner';

type Frame = { type: string; seq: number; data?: string; owner_account_id?: string };

/** Drains `ams_recv` until the cursor reaches `head`. */
async function recvTo(agent: McpAgent, since: number, head: number): Promise<{ frames: Frame[]; next: number }> {
  const frames: Frame[] = [];
  let next = since;
  for (let calls = 0; next < head; calls++) {
    assert.ok(calls < 200, `ams_recv stuck at ${next} of ${head}`);
    const r = await agent.ok('ams_recv', { since: next, wait_ms: 2_000, max: 1_000, format: 'frames' });
    frames.push(...(r.frames as Frame[]));
    next = r.next_since as number;
  }
  return { frames, next };
}

export const mcpSessions: Scenario = {
  name: 'mcp-sessions-sigkill',
  what: 'MCP agents join, send and long-poll; wrangler dev is SIGKILLed and restarted; the same sessions continue with their cursors, retries are exactly-once, and leaving leaves nothing counted',
  async run(w) {
    const A = await w.account('mcp-a');
    const conv = await w.mint(A);
    w.track(A, conv);
    const watcher = w.open(conv.observer_link);
    await watcher.joined;
    const speaker = w.open(conv.magic_link, { credential: A.credential, receipts: true, streamName: 'speaker' });
    await speaker.joined;
    const agents = await Promise.all(Array.from({ length: w.n(3, 8) }, () => mcpAgent(conv.magic_link)));
    w.tally.connections += agents.length;
    const joins = await Promise.all(agents.map((a) => a.ok('ams_join', { since: 0 })));
    assert.equal(new Set(joins.map((j) => j.account_id)).size, agents.length, 'every anonymous agent is its own identity');
    const perAgent = w.n(20, 60);
    const ids = agents.map((_, i) => Array.from({ length: perAgent }, (__, k) => `m${i}-${k}`));
    const half = Math.floor(perAgent / 2);
    for (const [i, a] of agents.entries()) for (const id of ids[i].slice(0, half)) await a.ok('ams_send', { data: id, id });
    for (let k = 0; k < 10; k++) speaker.send(`s-${k}`);
    await w.until(() => receiptsOf(speaker).length === 10, 'speaker receipts');
    const cursors = await Promise.all(agents.map(async (a) => (await recvTo(a, 0, receiptsOf(speaker).at(-1)!.seq)).next));

    await w.killAndRestart();

    // The same sessions, after the crash: resend everything (the first half must be recognised), then the rest.
    let duplicates = 0;
    for (const [i, a] of agents.entries()) {
      for (const id of ids[i]) {
        const r = await a.ok('ams_send', { data: id, id });
        if (r.duplicate) duplicates += 1;
      }
    }
    assert.equal(duplicates, agents.length * half, 'every send from before the crash is recognised, none is logged twice');
    w.tally.tokensEmitted += agents.length * perAgent + 10;
    const log = await w.history(conv.observer_link);
    const head = log.at(-1)!.seq;
    const tokens = log.filter((f) => f.type === 'token').map((f) => (f as { data: string }).data);
    for (const [i] of agents.entries()) assert.deepEqual(tokens.filter((d) => d.startsWith(`m${i}-`)), ids[i], `agent ${i}: each token once, in order`);
    // Each agent's cursor continues: exactly the frames it hears after it, up to the head.
    for (const [i, a] of agents.entries()) {
      const { frames } = await recvTo(a, cursors[i], head);
      const want = log.filter((f) => f.seq > cursors[i] && f.seq <= head && f.owner_account_id !== joins[i].account_id).map((f) => f.seq);
      assert.deepEqual(frames.map((f) => f.seq), want, `agent ${i} resumes its cursor across the crash`);
      w.tally.framesVerified += frames.length;
    }
    // The sessions are still members: a frame of the speaker reaches them, and they leave cleanly.
    const back = w.open(conv.magic_link, { credential: A.credential, receipts: true, streamName: 'speaker' });
    await back.joined;
    for (const a of agents) await a.ok('ams_leave');
    await Promise.all(agents.map((a) => a.close()));
    back.close();
    await w.connectionsReach(A, conv.alias, 0);
    assertContiguous(loggedOf(watcher).map((f) => f.seq), 1, loggedOf(watcher).at(-1)!.seq, 'watcher before the crash');
    return { agents: agents.length, sends_each: perAgent, duplicates_recognised: duplicates, head };
  },
};
