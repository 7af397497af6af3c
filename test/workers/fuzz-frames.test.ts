/**
 * Fuzzing live sockets with sequences of client frames, good and bad, through
 * the real Worker and conversation object. A model says what each sequence
 * must produce: every good frame logged and broadcast exactly once and
 * unchanged, receipts with the right seqs, and the first bad frame closing its
 * own socket with its documented code — never anyone else's.
 */
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import type { CloseReason } from '../../src/protocol/close-codes';
import { LIMITS } from '../../src/protocol/limits';
import { SEED, hostileText, jsonObjectArb, loneSurrogateString } from '../fuzz/arbitraries';
import { Bystander, Peer, connect, createAccount, expectDocumentedClose, heartbeat, mint, type TestAccount, type TestConversation } from '../fuzz/workerd';

let A: TestAccount;
let conv: TestConversation;
let bystander: Bystander;
let keeper: Peer;

beforeAll(async () => {
  A = await createAccount('fzf-a');
  conv = await mint(A);
  bystander = await Bystander.open(conv.observer_link);
  keeper = await connect(conv.magic_link, { credential: A.credential, headers: { 'x-ams-receipts': 'true' } });
  await keeper.joined();
  await heartbeat(keeper, bystander, 'ready');
});

type Good =
  | { kind: 'token'; data: string; id?: string; ref?: { frac: number } }
  | { kind: 'meta'; metadata: Record<string, unknown> }
  | { kind: 'ping'; exact: boolean };
type Bad = { kind: 'bad'; what: string; reason: CloseReason; raw: (head: number) => string | ArrayBuffer };

const goodArb: fc.Arbitrary<Good> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('token' as const), data: fc.oneof(hostileText, fc.string({ unit: 'binary', maxLength: 200 })), id: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }), loneSurrogateString.map((s) => s.slice(0, 64))), ref: fc.record({ frac: fc.double({ min: 0, max: 1, noNaN: true }) }) }, { requiredKeys: ['kind', 'data'] }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('meta' as const), metadata: fc.oneof(jsonObjectArb, loneSurrogateString.map((v) => ({ [v]: { nested: [v] } })), jsonObjectArb.map((m) => JSON.parse(`{"__proto__":{"x":1},${JSON.stringify(m).slice(1)}`.replace(',}', '}')))) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('ping' as const), exact: fc.boolean() }) },
);

const badArb: fc.Arbitrary<Bad> = fc.oneof(
  fc.uint8Array({ maxLength: 16 }).map((b) => ({ kind: 'bad' as const, what: 'binary', reason: 'malformed_frame' as const, raw: () => b.buffer as ArrayBuffer })),
  hostileText.filter((s) => { try { const v = JSON.parse(s); return v === null || typeof v !== 'object' || Array.isArray(v); } catch { return true; } })
    .map((s) => ({ kind: 'bad' as const, what: 'not an object', reason: 'malformed_frame' as const, raw: () => s })),
  hostileText.filter((t) => !['token', 'set_metadata', 'ping'].includes(t)).map((t) => ({ kind: 'bad' as const, what: 'unknown type', reason: 'unknown_frame_type' as const, raw: () => JSON.stringify({ type: t }) })),
  fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string())).map((d) => ({ kind: 'bad' as const, what: 'data of the wrong type', reason: 'malformed_frame' as const, raw: () => JSON.stringify({ type: 'token', data: d }) })),
  loneSurrogateString.map((d) => ({ kind: 'bad' as const, what: 'lone surrogate', reason: 'malformed_frame' as const, raw: () => JSON.stringify({ type: 'token', data: d }) })),
  fc.integer({ min: 1, max: 3 }).map((n) => ({ kind: 'bad' as const, what: 'data over 64 KiB', reason: 'token_too_large' as const, raw: () => JSON.stringify({ type: 'token', data: '€'.repeat(Math.ceil(LIMITS.tokenBytes / 3) + n) }) })),
  fc.constant({ kind: 'bad' as const, what: 'message over 512 KiB', reason: 'token_too_large' as const, raw: () => `{"type":"token","data":"${' '.repeat(LIMITS.frameBytes)}"}` }),
  fc.nat({ max: 5 }).map((k) => ({ kind: 'bad' as const, what: 'ref beyond the head', reason: 'malformed_frame' as const, raw: (head: number) => JSON.stringify({ type: 'token', data: 'x', ref: head + 1 + k }) })),
  fc.constant({ kind: 'bad' as const, what: 'ref 0', reason: 'malformed_frame' as const, raw: () => JSON.stringify({ type: 'token', data: 'x', ref: 0 }) }),
  fc.constant({ kind: 'bad' as const, what: 'metadata over 16 KiB', reason: 'malformed_frame' as const, raw: () => JSON.stringify({ type: 'set_metadata', metadata: { k: 'x'.repeat(LIMITS.metadataBytes) } }) }),
  fc.constant({ kind: 'bad' as const, what: 'id over 64 characters', reason: 'malformed_frame' as const, raw: () => JSON.stringify({ type: 'token', data: 'x', id: 'i'.repeat(65) }) }),
);

const sequenceArb = fc.record({
  goods: fc.array(goodArb, { maxLength: 10 }),
  bad: fc.option(badArb, { nil: undefined }),
  afterBad: fc.array(goodArb, { maxLength: 3 }),
});

it('logs every good frame once and unchanged, and closes only the sender on its first bad frame', async () => {
  let run = 0;
  let bads = 0;
  await fc.assert(
    fc.asyncProperty(sequenceArb, async ({ goods, bad, afterBad }) => {
      run += 1;
      // An account per run: one account may register only ten streams in a conversation (limits table).
      const account = await createAccount(`fzf-e${run}`);
      const emitter = await connect(conv.magic_link, { credential: account.credential, headers: { 'x-ams-receipts': '1', 'x-ams-stream-name': `fz-${run}` } });
      const joined = await emitter.joined();
      let head = joined.seq;
      await bystander.reach(head);
      const expected: unknown[] = [];
      const receipts: Array<{ seq: number; id?: string; duplicate?: true }> = [];
      const ids = new Map<string, number>();
      let pongs = 0;
      for (const g of goods) {
        if (g.kind === 'ping') {
          emitter.send(g.exact ? '{"type":"ping"}' : '{ "type" : "ping" }');
          pongs += 1;
          continue;
        }
        if (g.kind === 'meta') {
          emitter.send(`{"type":"set_metadata","metadata":${JSON.stringify(g.metadata)}}`);
          head += 1;
          expected.push({ type: 'stream_metadata', seq: head, stream_id: joined.stream_id, metadata: JSON.stringify(g.metadata) });
          continue;
        }
        const ref = g.ref && head > 0 ? 1 + Math.floor(g.ref.frac * (head - 1)) : undefined;
        emitter.send({ type: 'token', data: g.data, ...(g.id !== undefined ? { id: g.id } : {}), ...(ref !== undefined ? { ref } : {}) });
        const first = g.id === undefined ? undefined : ids.get(g.id);
        if (first !== undefined) {
          receipts.push({ seq: first, id: g.id, duplicate: true });
          continue;
        }
        head += 1;
        if (g.id !== undefined) ids.set(g.id, head);
        receipts.push({ seq: head, ...(g.id !== undefined ? { id: g.id } : {}) });
        expected.push({ type: 'token', seq: head, stream_id: joined.stream_id, data: g.data, id: g.id, ref });
      }
      if (bad) {
        bads += 1;
        emitter.send(bad.raw(head));
        for (const g of afterBad) if (g.kind === 'token') emitter.send({ type: 'token', data: g.data });
        const closed = await emitter.closed;
        expect(expectDocumentedClose(closed), bad.what).toBe(bad.reason);
      } else {
        await emitter.until(() => emitter.frames.filter((f) => f.type === 'x_receipt').length >= receipts.length && emitter.frames.filter((f) => f.type === 'pong').length >= pongs, 'receipts and pongs');
        await emitter.close();
      }
      head += 1;
      expected.push({ type: 'stream_left', seq: head, stream_id: joined.stream_id });
      await bystander.reach(head);
      const heard = bystander.peer.logged().filter((f) => f.seq > joined.seq && f.seq <= head).map((f) => {
        const x = f as unknown as Record<string, unknown>;
        if (x.type === 'token') return { type: 'token', seq: x.seq, stream_id: x.stream_id, data: x.data, id: x.id, ref: x.ref };
        if (x.type === 'stream_metadata') return { type: x.type, seq: x.seq, stream_id: x.stream_id, metadata: JSON.stringify(x.metadata) };
        return { type: x.type, seq: x.seq, stream_id: x.stream_id };
      });
      expect(heard).toEqual(expected);
      // The owner never hears its own stream; it gets exactly its receipts and pongs.
      const own = emitter.frames.slice(1);
      expect(own.filter((f) => f.type === 'x_receipt')).toEqual(receipts.map((r) => ({ type: 'x_receipt', ...r, ts: expect.any(String) })));
      expect(own.filter((f) => f.type === 'pong').length).toBe(pongs);
      expect(own.every((f) => f.type === 'x_receipt' || f.type === 'pong')).toBe(true);
      bystander.assertIntact();
      expect(keeper.isClosed).toBe(false);
    }),
    { seed: SEED, numRuns: 120 },
  );
  expect(bads).toBeGreaterThan(40);
  await heartbeat(keeper, bystander, 'after the storm');
}, 120_000);

it('closes an observer that emits or sets metadata with 4903 read_only, and only that observer', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(goodArb.filter((g) => g.kind !== 'ping'), badArb), async (frame) => {
      const observer = await connect(conv.observer_link);
      await observer.joined();
      const before = bystander.seq;
      const raw = frame.kind === 'bad' ? frame.raw(before) : frame.kind === 'meta' ? JSON.stringify({ type: 'set_metadata', metadata: frame.metadata }) : JSON.stringify({ type: 'token', data: frame.data });
      observer.send(raw);
      const closed = await observer.closed;
      // A frame that does not parse earns its parse reason first; anything that parses is refused as read-only.
      const reason = frame.kind === 'bad' && !['ref beyond the head', 'metadata over 16 KiB'].includes(frame.what) ? frame.reason : 'read_only';
      expect(expectDocumentedClose(closed)).toBe(reason);
      await heartbeat(keeper, bystander, 'observer gone');
      expect(bystander.peer.logged().filter((f) => f.seq > before && f.type !== 'token')).toEqual([]);
    }),
    { seed: SEED, numRuns: 40 },
  );
}, 60_000);
