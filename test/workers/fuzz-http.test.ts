/**
 * Fuzzing the HTTP surface through the real Worker: control-plane bodies,
 * arbitrary methods and paths, and the shell routes (`/tokens`, `/history`,
 * `/events`). Every answer is a success of the right shape or a documented
 * `{error, message}` — never a 500, never HTML on an API path — and the
 * bystander socket keeps hearing every logged frame in order.
 */
import fc from 'fast-check';
import { SELF } from 'cloudflare:test';
import { beforeAll, expect, it } from 'vitest';
import { LIMITS } from '../../src/protocol/limits';
import { EPOCH_RE, NAMESPACE_RE, parseCursor } from '../../src/protocol/validate';
import { SEED, hostileText, jsonObjectArb, loneSurrogateString } from '../fuzz/arbitraries';
import {
  Bystander, ORIGIN, Peer, connect, createAccount, expectDocumentedError, freshNamespace, heartbeat, mint, routeOf,
  type TestAccount, type TestConversation,
} from '../fuzz/workerd';

let A: TestAccount;
let B: TestAccount;
let conv: TestConversation;
let bystander: Bystander;
let keeper: Peer;

beforeAll(async () => {
  A = await createAccount('fzh-a');
  B = await createAccount('fzh-b');
  conv = await mint(A, { stream_name: 'minter' });
  bystander = await Bystander.open(conv.observer_link);
  keeper = await connect(conv.magic_link, { credential: A.credential, headers: { 'x-ams-receipts': 'true' } });
  await keeper.joined();
  await heartbeat(keeper, bystander, 'ready');
});

const enc = new TextEncoder();
const contentTypes = fc.constantFrom(undefined, 'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/merge-patch+json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/x-ndjson', 'text/html');
const rawBody = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => enc.encode(JSON.stringify(v))) },
  { weight: 2, arbitrary: hostileText.map((s) => enc.encode(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.constant(enc.encode(JSON.stringify({ namespace: 'x'.repeat(LIMITS.controlBodyBytes) }))) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
);

function isJsonMedia(type: string | undefined): boolean {
  if (type === undefined) return true;
  const media = type.split(';')[0].trim().toLowerCase();
  return media === 'application/json' || media.endsWith('+json');
}

/** What the body layer of the control plane says about a body, before any field is read. */
function bodyVerdict(type: string | undefined, bytes: Uint8Array, emptyIsObject: boolean): string | Record<string, unknown> {
  if (!isJsonMedia(type)) return 'unsupported_media_type';
  if (bytes.length > LIMITS.controlBodyBytes) return 'body_too_large';
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return 'invalid_json';
  }
  if (text.trim() === '') return emptyIsObject ? {} : 'invalid_json';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'invalid_json';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'invalid_json';
  return value as Record<string, unknown>;
}

it('answers every account-creation body with 201 or its documented error', async () => {
  const taken = A.namespace;
  await fc.assert(
    fc.asyncProperty(contentTypes, fc.oneof({ weight: 3, arbitrary: rawBody }, { weight: 2, arbitrary: fc.oneof(fc.constant('fresh'), fc.constant(taken), hostileText).map((ns) => enc.encode(JSON.stringify({ namespace: ns === 'fresh' ? freshNamespace('fzh') : ns }))) }), async (type, bytes) => {
        const res = await SELF.fetch(`${ORIGIN}/v1/accounts`, { method: 'POST', headers: type ? { 'content-type': type } : {}, body: bytes });
        const body = bodyVerdict(type, bytes, false);
        let expected: string;
        if (typeof body === 'string') expected = body;
        else if (typeof body.namespace !== 'string' || !NAMESPACE_RE.test(body.namespace)) expected = 'invalid_namespace';
        else expected = body.namespace === taken ? 'namespace_taken' : 'created';
        if (expected === 'created') {
          expect(res.status).toBe(201);
          expect(await res.json()).toMatchObject({ namespace: body && typeof body === 'object' ? body.namespace : '', credential: expect.stringMatching(/^ams_sk_/) });
        } else {
          expect(await expectDocumentedError(res)).toBe(expected);
        }
      }),
    { seed: SEED, numRuns: 150 },
  );
}, 60_000);

it('answers every mint body with 201 and exactly the metadata given, or its documented error', async () => {
  await fc.assert(
    fc.asyncProperty(
      contentTypes,
      fc.oneof(
        { weight: 1, arbitrary: rawBody },
        { weight: 3, arbitrary: fc.record({ metadata: fc.oneof(jsonObjectArb, loneSurrogateString.map((s) => ({ [s]: s })), fc.jsonValue()), stream_metadata: fc.oneof(jsonObjectArb, fc.jsonValue()), history: fc.oneof(fc.record({ max_frames: fc.integer({ min: -1, max: 5 }) }), fc.jsonValue()), id_kind: fc.constantFrom('ulid', 'uuid', 'jcs-sha256', 'nope'), id_input: fc.jsonValue() }, { requiredKeys: [] }).map((b) => enc.encode(JSON.stringify(b))) },
      ),
      async (type, bytes) => {
        const res = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations`, {
          method: 'POST', headers: { authorization: `Bearer ${A.credential}`, ...(type ? { 'content-type': type } : {}) }, body: bytes,
        });
        const body = bodyVerdict(type, bytes, true);
        if (typeof body === 'string') {
          expect(await expectDocumentedError(res)).toBe(body);
          return;
        }
        if (res.status !== 201) {
          const code = await expectDocumentedError(res);
          expect(['invalid_metadata', 'invalid_stream_metadata', 'invalid_history', 'unsupported_id_kind', 'invalid_id_input', 'conversation_exists', 'invalid_alias', 'invalid_stream_name']).toContain(code);
          return;
        }
        const minted = (await res.json()) as { metadata: unknown; stream_metadata: unknown };
        expect(JSON.stringify(minted.metadata)).toBe(JSON.stringify(body.metadata ?? {}));
        expect(JSON.stringify(minted.stream_metadata)).toBe(JSON.stringify(body.stream_metadata ?? {}));
      },
    ),
    { seed: SEED, numRuns: 120 },
  );
}, 60_000);

it('answers link-minting bodies with a link or invalid_scope / invalid_expires_in', async () => {
  await fc.assert(
    fc.asyncProperty(fc.record({ scope: fc.oneof(fc.constantFrom('write', 'read'), fc.jsonValue()), expires_in: fc.oneof(fc.integer({ min: -5, max: LIMITS.linkMaxLifetimeSeconds + 5 }), fc.double(), fc.jsonValue()) }, { requiredKeys: [] }), async (b) => {
      const res = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations/${conv.alias}/links`, {
        method: 'POST', headers: { authorization: `Bearer ${A.credential}`, 'content-type': 'application/json' }, body: JSON.stringify(b),
      });
      const scopeOk = b.scope === undefined || b.scope === 'write' || b.scope === 'read';
      const e = b.expires_in;
      const expiresOk = e === undefined || (typeof e === 'number' && Number.isInteger(e) && e >= 1 && e <= LIMITS.linkMaxLifetimeSeconds);
      if (!scopeOk) expect(await expectDocumentedError(res)).toBe('invalid_scope');
      else if (!expiresOk) expect(await expectDocumentedError(res)).toBe('invalid_expires_in');
      else {
        expect(res.status).toBe(201);
        expect(await res.json()).toMatchObject({ scope: b.scope ?? 'write', link: expect.stringContaining(`/${A.namespace}/conversations/${conv.alias}?t=`) });
      }
    }),
    { seed: SEED, numRuns: 80 },
  );
});

it('answers any method on any API path with JSON, never a 500 and never HTML', async () => {
  const segment = fc.oneof(hostileText.map((s) => encodeURIComponent(s)), fc.constantFrom('v1', 'conversations', 'links', 'rotate', 'accounts', 'connect', 'events', 'tokens', 'history', 'mcp', '%E0%A4%A', '%', '..', '.', '', A.namespace, conv.alias));
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
      fc.array(segment, { minLength: 1, maxLength: 5 }),
      fc.boolean(),
      fc.constantFrom(undefined, `Bearer ${B.credential}`, 'Bearer junk', 'Basic Zm9vOmJhcg=='),
      async (method, segments, apiPrefix, authorization) => {
        const path = `/${apiPrefix ? 'v1/' : ''}${segments.join('/')}`;
        const res = await SELF.fetch(`${ORIGIN}${path}`, { method, headers: { ...(authorization ? { authorization } : {}), accept: 'application/json' }, ...(method === 'GET' || method === 'HEAD' ? {} : { body: '{}' }) });
        expect(res.status, `${method} ${path}`).not.toBe(500);
        if (res.status === 101) {
          res.webSocket?.accept();
          res.webSocket?.close();
          return;
        }
        if (method === 'HEAD' || res.status === 204) return;
        const type = res.headers.get('content-type') ?? '';
        if (segments.includes('mcp')) {
          // MCP answers JSON-RPC errors in its own shape; here it only has to stay up.
          await res.body?.cancel();
        } else if (path.startsWith('/v1/') || res.status >= 400) {
          expect(type, `${method} ${path} → ${res.status}`).toMatch(/json|event-stream/);
          if (res.status >= 400 && type.includes('json')) await expectDocumentedError(res);
          else await res.body?.cancel();
        } else {
          await res.body?.cancel();
        }
      },
    ),
    { seed: SEED, numRuns: 120 },
  );
  bystander.assertIntact();
}, 60_000);

/** `POST …/tokens` bodies and the tokens the published rules read out of them. */
const tokensBody = fc.oneof(
  fc.record({ type: fc.constant('text/plain'), body: fc.string({ unit: 'binary', maxLength: 60 }) }),
  fc.record({ type: fc.constant(undefined), body: fc.string({ maxLength: 40 }) }),
  fc.record({ type: fc.constant('application/json'), body: fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }).map((d) => JSON.stringify(d)), fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.record({ data: fc.string({ maxLength: 10 }), id: fc.string({ minLength: 1, maxLength: 8 }) }, { requiredKeys: ['data'] })), { maxLength: 6 }).map((a) => JSON.stringify(a)), fc.jsonValue().map((v) => JSON.stringify(v)), hostileText) }),
  fc.record({ type: fc.constant('application/x-ndjson'), body: fc.array(fc.oneof(fc.string({ maxLength: 12 }).filter((l) => !l.includes('\n')), fc.string({ maxLength: 8 }).map((d) => JSON.stringify({ data: d }))), { maxLength: 6 }).map((lines) => lines.join('\n')) }),
  fc.record({ type: fc.constantFrom('application/xml', 'multipart/form-data', 'image/png'), body: fc.string({ maxLength: 10 }) }),
  fc.record({ type: fc.constant('application/json'), body: fc.constant(JSON.stringify(Array.from({ length: LIMITS.tokensPerBatch + 1 }, () => 'x'))) }),
  fc.record({ type: fc.constant('text/plain'), body: fc.constant('€'.repeat(Math.ceil(LIMITS.tokenBytes / 3) + 1)) }),
  fc.record({ type: fc.constant('application/json'), body: loneSurrogateString.map((s) => JSON.stringify({ data: s })) }),
  fc.record({ type: fc.constant('application/json'), body: fc.integer({ min: 1, max: 3 }).map((k) => JSON.stringify({ data: 'r', ref: 1_000_000 * k })) }),
);

type TokenVerdict = { ok: true; tokens: Array<{ data: string; id?: string }> } | { ok: false; error: string };

/** The published reading of a tokens body, written independently of the Worker's. */
function tokensVerdict(type: string | undefined, body: string): TokenVerdict {
  const media = (type ?? '').split(';')[0].trim().toLowerCase();
  const fail = (error: string): TokenVerdict => ({ ok: false, error });
  let items: unknown[];
  const asToken = (v: unknown): { data: string; id?: string; ref?: number } | string => {
    if (typeof v === 'string') return { data: v };
    if (v === null || typeof v !== 'object' || Array.isArray(v) || typeof (v as { data?: unknown }).data !== 'string') return 'invalid_token';
    const t = v as { data: string; id?: unknown; ref?: unknown };
    if (t.id !== undefined && (typeof t.id !== 'string' || t.id.length < 1 || t.id.length > LIMITS.tokenIdChars)) return 'invalid_token';
    if (t.ref !== undefined && (typeof t.ref !== 'number' || !Number.isInteger(t.ref) || t.ref < 1)) return 'invalid_token';
    return { data: t.data, ...(t.id !== undefined ? { id: t.id } : {}), ...(t.ref !== undefined ? { ref: t.ref } : {}) };
  };
  if (media === '' || media === 'text/plain') items = [{ data: body }];
  else if (media === 'application/json') {
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch {
      return fail('invalid_json');
    }
    items = Array.isArray(v) ? v : [v];
  } else if (media === 'application/x-ndjson' || media === 'application/jsonl') {
    items = body.split('\n').filter((l) => l.trim() !== '').map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return { data: l.endsWith('\r') ? l.slice(0, -1) : l };
      }
    });
  } else return fail('unsupported_media_type');
  const tokens: Array<{ data: string; id?: string; ref?: number }> = [];
  for (const item of items) {
    const t = asToken(item);
    if (typeof t === 'string') return fail(t);
    tokens.push(t);
  }
  if (tokens.length === 0) return fail('invalid_token');
  if (tokens.length > LIMITS.tokensPerBatch) return fail('too_many_tokens');
  for (const t of tokens) {
    if (enc.encode(t.data).length > LIMITS.tokenBytes) return fail('token_too_large');
    if (!t.data.isWellFormed()) return fail('invalid_token');
  }
  if (tokens.some((t) => t.ref !== undefined)) return fail('invalid_ref');
  return { ok: true, tokens };
}

it('turns every tokens body into exactly the tokens it holds, all or none, or its documented error', async () => {
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(tokensBody, async ({ type, body }) => {
      const before = bystander.seq;
      const res = await SELF.fetch(routeOf(conv.magic_link, '/tokens', { stream_name: 'fuzz-http' }), {
        method: 'POST', headers: { authorization: `Bearer ${B.credential}`, ...(type ? { 'content-type': type } : {}) }, body,
      });
      const verdict = tokensVerdict(type, body);
      if (!verdict.ok) {
        expect(await expectDocumentedError(res)).toBe(verdict.error);
        await heartbeat(keeper, bystander, 'after a refused batch');
        // All or none: nothing of the refused batch was logged.
        expect(bystander.tokensSince(0).filter((t) => t.seq > before && t.data !== 'after a refused batch')).toEqual([]);
        return;
      }
      expect(res.status).toBe(200);
      const out = (await res.json()) as { seqs: number[]; stream_id: string; duplicates: number };
      const fresh = out.seqs.filter((s, i) => out.seqs.indexOf(s) === i && s > before);
      await bystander.reach(Math.max(before, ...fresh));
      const heard = bystander.peer.logged().filter((f) => f.seq > before && f.type === 'token').map((f) => (f as { data: string }).data);
      // Repeated ids (within the batch or with earlier ones) are logged once.
      const expectedData = verdict.tokens.filter((t, i) => out.seqs[i] > before && out.seqs.indexOf(out.seqs[i]) === i).map((t) => t.data);
      expect(heard).toEqual(expectedData);
      expect(fresh).toEqual(fresh.map((_, i) => before + 1 + i).filter((s) => s <= bystander.seq));
      accepted += 1;
    }),
    { seed: SEED, numRuns: 100 },
  );
  expect(accepted).toBeGreaterThan(30);
  bystander.assertIntact();
}, 120_000);

it('pages the history exactly as the cursor and limit say, or answers invalid_cursor / invalid_limit', async () => {
  const head = bystander.seq;
  await fc.assert(
    fc.asyncProperty(
      fc.option(fc.oneof(fc.nat({ max: head + 5 }).map(String), hostileText), { nil: undefined }),
      fc.option(fc.oneof(fc.integer({ min: -2, max: LIMITS.historyPageMax + 2 }).map(String), hostileText), { nil: undefined }),
      fc.option(fc.oneof(fc.constant(conv.epoch), fc.constant('otherepoch'), hostileText), { nil: undefined }),
      async (since, limit, epoch) => {
        const params: Record<string, string> = {};
        if (since !== undefined) params.since = since;
        if (limit !== undefined) params.limit = limit;
        if (epoch !== undefined) params.epoch = epoch;
        const res = await SELF.fetch(routeOf(conv.observer_link, '/history', params));
        const cursor = since === undefined ? undefined : parseCursor(since);
        const epochBad = epoch !== undefined && !EPOCH_RE.test(epoch);
        const n = limit === undefined ? LIMITS.historyPageDefault : Number(limit);
        if (cursor === 'invalid' || epochBad) return void expect(await expectDocumentedError(res)).toBe('invalid_cursor');
        if (!Number.isInteger(n) || n < 1 || n > LIMITS.historyPageMax) return void expect(await expectDocumentedError(res)).toBe('invalid_limit');
        const other = epoch !== undefined && epoch !== conv.epoch;
        const from = other ? 1 : (cursor ?? 0) + 1;
        if (!other && (cursor ?? 0) > head) return void expect(await expectDocumentedError(res)).toBe('invalid_cursor');
        expect(res.status).toBe(200);
        const page = (await res.json()) as { frames: Array<{ seq: number }>; next_since: number; more: boolean; truncated?: unknown };
        const seqs = page.frames.map((f) => f.seq);
        const want = Array.from({ length: Math.max(0, Math.min(n, head - from + 1)) }, (_, i) => from + i);
        expect(seqs).toEqual(want);
        if (other) expect(page.truncated).toEqual({ from_seq: 1, to_seq: 0 });
        const logged = bystander.peer.logged();
        for (const f of page.frames) {
          const { chain, ...frame } = f as { chain: string; seq: number };
          expect(chain).toMatch(/^[0-9a-f]{64}$/);
          expect(frame).toEqual(logged.find((x) => x.seq === f.seq));
        }
      },
    ),
    { seed: SEED, numRuns: 80 },
  );
}, 120_000);

/** Reads an SSE body until `done` holds for the text so far, then cancels it. */
async function readSse(res: Response, done: (text: string) => boolean): Promise<string> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  const deadline = Date.now() + 10_000;
  while (!done(text)) {
    const left = deadline - Date.now();
    const next = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), Math.max(0, left)))]);
    if (next === null) {
      await reader.cancel();
      throw new Error(`SSE stalled after: ${text.slice(-300)}`);
    }
    if (next.done) break;
    text += dec.decode(next.value, { stream: true });
  }
  await reader.cancel();
  return text;
}

it('opens SSE tails for every acceptable cursor and refuses the rest, with replay matching the log', async () => {
  const head = bystander.seq;
  await fc.assert(
    fc.asyncProperty(
      fc.option(fc.oneof(fc.nat({ max: head + 3 }).map(String), hostileText.filter((s) => /^[\x20-\x7e]*$/.test(s))), { nil: undefined }),
      fc.constantFrom('since', 'last-event-id'),
      fc.constantFrom(undefined, 'text/event-stream', '*/*', 'application/json', 'text/html'),
      async (since, via, accept) => {
        const params: Record<string, string> = via === 'since' && since !== undefined ? { since } : {};
        const headers: Record<string, string> = {};
        if (via === 'last-event-id' && since !== undefined) headers['last-event-id'] = since;
        if (accept) headers.accept = accept;
        const res = await SELF.fetch(routeOf(conv.observer_link, '/events', params), { headers });
        if (accept && !accept.includes('text/event-stream') && !accept.includes('*/*')) return void expect(await expectDocumentedError(res)).toBe('not_acceptable');
        // Header values lose surrounding whitespace on the way (HTTP), query values keep it.
        const cursor = since === undefined ? undefined : parseCursor(via === 'last-event-id' ? since.trim() : since);
        if (cursor === 'invalid') return void expect(await expectDocumentedError(res)).toBe('invalid_cursor');
        if (cursor !== undefined && cursor > head) return void expect(await expectDocumentedError(res)).toBe('invalid_cursor');
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
        const want = cursor === undefined ? 0 : head - cursor;
        const text = await readSse(res, (t) => (t.match(/^id: /gm) ?? []).length >= want && t.includes('event: joined'));
        const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
        expect(ids).toEqual(Array.from({ length: want }, (_, i) => cursor! + 1 + i));
        // The reconnect delay rides on the first event, never in a block of its own.
        expect(text.startsWith('retry: 2000\nevent: joined\n')).toBe(true);
      },
    ),
    { seed: SEED, numRuns: 40 },
  );
  await heartbeat(keeper, bystander, 'after the tails');
}, 60_000);
