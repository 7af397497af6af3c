/**
 * Fuzzing the MCP surface through the real Worker: every tool with arguments
 * of every shape, and raw JSON-RPC bodies. Each call ends in a result or a
 * documented tool error (`isError` with a code of the tables) — never
 * `internal_error`, never a 500 — and what a session sends reaches the
 * others exactly, stamped with that session's own identity.
 */
import fc from 'fast-check';
import { SELF } from 'cloudflare:test';
import { beforeAll, expect, it } from 'vitest';
import { CLOSE } from '../../src/protocol/close-codes';
import { ERRORS } from '../../src/protocol/errors';
import { LIMITS } from '../../src/protocol/limits';
import { SEED, hostileText, jsonObjectArb, loneSurrogateString } from '../fuzz/arbitraries';
import { Bystander, connect, createAccount, heartbeat, mint, routeOf, type Peer, type TestAccount, type TestConversation } from '../fuzz/workerd';
import { openSession, sseMessages, type RawSession } from './mcp-support';

/** Every code the one error table documents (close reasons included: the table is checked to hold them all). */
const TOOL_ERRORS = new Set<string>([...Object.keys(ERRORS), ...Object.keys(CLOSE)]);

let A: TestAccount;
let conv: TestConversation;
let bystander: Bystander;
let keeper: Peer;

beforeAll(async () => {
  A = await createAccount('fzm-a');
  conv = await mint(A);
  bystander = await Bystander.open(conv.observer_link);
  keeper = await connect(conv.magic_link, { credential: A.credential, headers: { 'x-ams-receipts': '1' } });
  await keeper.joined();
  await heartbeat(keeper, bystander, 'ready');
});

/** A value for a field: usually of the right kind, often not. */
const anything = fc.oneof(fc.jsonValue({ maxDepth: 2 }), hostileText, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const field = <T>(good: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: good as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: anything });
const name = fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/), hostileText);

const argsFor: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  ams_join: fc.record({ stream_name: field(name), stream_metadata: field(jsonObjectArb), self_subscribe: field(fc.boolean()), since: field(fc.nat({ max: 50 })), magic_link: field(fc.constantFrom('https://x/ns/conversations/a?t=w1.x.y.z', 'not a link')), resume_key: field(fc.constantFrom('amsrk_nope', '')) }, { requiredKeys: [] }),
  ams_send: fc.record({
    data: fc.oneof({ weight: 8, arbitrary: fc.oneof(hostileText, fc.string({ unit: 'binary', maxLength: 80 })) }, { weight: 1, arbitrary: fc.oneof(loneSurrogateString, fc.constant('€'.repeat(Math.ceil(LIMITS.tokenBytes / 3) + 1))) }, { weight: 1, arbitrary: anything }),
    // Mostly absent: a random ref is almost always beyond the head (invalid_ref), and sends must get through often enough.
    ref: fc.option(fc.integer({ min: -1, max: 100_000 }), { freq: 2, nil: undefined }),
    id: fc.option(fc.oneof(fc.string({ minLength: 1, maxLength: 64 }), fc.string({ maxLength: 70 })), { freq: 2, nil: undefined }),
    end: fc.option(fc.boolean(), { freq: 2, nil: undefined }),
  }, { requiredKeys: ['data'] }).map((a) => Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined))),
  ams_recv: fc.record({ since: field(fc.integer({ min: -1, max: 100_000 })), wait_ms: field(fc.constantFrom(0, 1, -1, LIMITS.mcpWaitMsMax + 1)), max: field(fc.integer({ min: -1, max: LIMITS.mcpRecvMax + 1 })), format: field(fc.constantFrom('messages', 'frames', 'tokens')) }, { requiredKeys: [] }),
  ams_set_metadata: fc.record({ metadata: field(fc.oneof(jsonObjectArb, fc.constant({ k: 'x'.repeat(LIMITS.metadataBytes) }))) }, { requiredKeys: [] }),
  ams_peers: fc.record({ resume_key: field(fc.string()) }, { requiredKeys: [] }),
  ams_leave: fc.record({ resume_key: field(fc.string()) }, { requiredKeys: [] }),
  ams_create_conversation: fc.record({ alias: field(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/)), stream_name: field(name), metadata: field(jsonObjectArb), stream_metadata: field(jsonObjectArb) }, { requiredKeys: [] }),
  nope: fc.record({ x: anything }),
};

const callArb = fc.array(
  fc.constantFrom(...Object.keys(argsFor)).chain((tool) => argsFor[tool].map((args) => ({ tool, args }))),
  { minLength: 1, maxLength: 6 },
);

it('answers every tool call with a result or a documented tool error, and never disturbs the conversation', async () => {
  let sends = 0;
  let errors = 0;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(true, true, true, false), callArb, async (joinFirst, calls) => {
      const session: RawSession = await openSession(conv.magic_link);
      let me: string | undefined;
      if (joinFirst) me = (await session.ok('ams_join', {})).account_id as string;
      for (const { tool, args } of calls) {
        const before = bystander.seq;
        const r = await session.call(tool, args);
        if (r.isError) {
          errors += 1;
          const code = (r.value as { error?: string }).error;
          expect(TOOL_ERRORS.has(code!), `${tool} → undocumented error ${code}: ${JSON.stringify(r.value)}`).toBe(true);
          expect(code).not.toBe('internal_error');
          continue;
        }
        if (tool === 'ams_join') me = r.value.account_id;
        if (tool === 'ams_send') {
          sends += 1;
          const seq = r.value.seq as number;
          if (r.value.duplicate) continue;
          await bystander.reach(seq);
          const heard = bystander.peer.logged().find((f) => f.seq === seq) as { data: string; owner_account_id: string };
          expect(heard.data).toBe(args.data);
          expect(heard.owner_account_id).toBe(me);
          expect(seq).toBeGreaterThan(before);
        }
      }
      await session.del();
    }),
    { seed: SEED, numRuns: 60 },
  );
  expect(sends).toBeGreaterThan(5);
  expect(errors).toBeGreaterThan(20);
  await heartbeat(keeper, bystander, 'after the tools');
  bystander.assertIntact();
}, 120_000);

it('carries metadata given to MCP tools key for key, including prototype-named keys', async () => {
  const session = await openSession(conv.magic_link);
  const metadata = JSON.parse('{"__proto__":{"polluted":true},"constructor":"c","role":"<b>agent</b>"}');
  const joined = await session.ok('ams_join', { stream_metadata: metadata });
  await bystander.peer.until(() => bystander.peer.logged().some((f) => f.type === 'stream_joined' && (f as { stream_id: string }).stream_id === joined.stream_id), 'stream_joined');
  const announced = bystander.peer.logged().find((f) => f.type === 'stream_joined' && (f as { stream_id: string }).stream_id === joined.stream_id) as { metadata: unknown };
  expect(JSON.stringify(announced.metadata)).toBe(JSON.stringify(metadata));
  const set = await session.ok('ams_set_metadata', { metadata });
  await bystander.reach(set.seq);
  const changed = bystander.peer.logged().find((f) => f.seq === set.seq) as { metadata: unknown };
  expect(JSON.stringify(changed.metadata)).toBe(JSON.stringify(metadata));
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  await session.del();
});

it('answers raw JSON-RPC of any shape with a JSON-RPC answer or a 4xx, never a 500', async () => {
  const url = routeOf(conv.magic_link, '/mcp');
  const session = await openSession(url);
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        hostileText,
        fc.record({ jsonrpc: fc.oneof(fc.constant('2.0'), anything), id: fc.oneof(fc.nat(), fc.string(), fc.constant(null)), method: fc.oneof(fc.constantFrom('tools/call', 'tools/list', 'initialize', 'ping', 'resources/list', 'notifications/initialized', 'x'), hostileText), params: fc.oneof(anything, fc.record({ name: fc.oneof(fc.constantFrom('ams_send', 'ams_recv', 'ams_join'), hostileText), arguments: anything })) }, { requiredKeys: [] }).map((m) => JSON.stringify(m)),
        fc.array(fc.record({ jsonrpc: fc.constant('2.0'), id: fc.nat(), method: fc.constant('ping') }), { maxLength: 3 }).map((b) => JSON.stringify(b)),
      ),
      fc.boolean(),
      async (body, withSession) => {
        const res = withSession ? await session.post(JSON.parse(JSON.stringify(body)) === body ? body : body) : await SELF.fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body });
        expect(res.status, body.slice(0, 120)).toBeLessThan(500);
        const text = await res.text();
        if (res.status >= 400 && text) expect(() => JSON.parse(text)).not.toThrow();
        for (const m of sseMessages(text)) expect(m.error?.code ?? 0).not.toBe(-32603);
      },
    ),
    { seed: SEED, numRuns: 120 },
  );
  await heartbeat(keeper, bystander, 'after the JSON-RPC');
  bystander.assertIntact();
}, 120_000);
