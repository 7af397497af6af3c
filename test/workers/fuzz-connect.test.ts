/**
 * Fuzzing `/connect` through the real Worker: tokens, credentials, every
 * header and its query twin, cursors and flags, drawn at random. A model of the
 * published check order names the verdict of each attempt; the broker must
 * give exactly that close (code and reason) or a `joined` with the right
 * scope, flags and replay — and the bystander observer must keep hearing every
 * logged frame, in order, while it happens.
 */
import fc from 'fast-check';
import { SELF } from 'cloudflare:test';
import { beforeAll, expect, it, vi } from 'vitest';
import type { CloseReason } from '../../src/protocol/close-codes';
import type { JoinedFrame } from '../../src/protocol/frames';
import { STREAM_NAME_RE, parseCursor, parseFlag, EPOCH_RE, decodeMetadataHeader } from '../../src/protocol/validate';
import { SEED, hostileText, jsonObjectArb } from '../fuzz/arbitraries';
import {
  Bystander, ISO_TS, ORIGIN, Peer, connect, createAccount, expectDocumentedClose, heartbeat, mint, tokenOf, upgrade, routeOf,
  type TestAccount, type TestConversation,
} from '../fuzz/workerd';

let A: TestAccount;
let B: TestAccount;
let conv: TestConversation;
let other: TestConversation;
let rotatedOut: { write: string; read: string };
let expired: string;
let bystander: Bystander;
let emitter: Peer;
/** The head seq, tracked from what the bystander heard. */
let head = 0;

const IDLE = 'a-idle';

async function linkWith(scope: 'write' | 'read', expires_in?: number): Promise<string> {
  const res = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations/${conv.alias}/links`, {
    method: 'POST', headers: { authorization: `Bearer ${A.credential}`, 'content-type': 'application/json' },
    body: JSON.stringify({ scope, ...(expires_in ? { expires_in } : {}) }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { link: string }).link;
}

beforeAll(async () => {
  A = await createAccount('fzc-a');
  B = await createAccount('fzc-b');
  const first = await mint(A, { stream_name: 'minter' });
  other = await mint(A);
  // Rotate once: the first generation's links become the "revoked" kind.
  rotatedOut = { write: tokenOf(first.magic_link), read: tokenOf(first.observer_link) };
  const rot = await SELF.fetch(`${ORIGIN}/v1/${A.namespace}/conversations/${first.alias}/links/rotate`, { method: 'POST', headers: { authorization: `Bearer ${A.credential}` } });
  const links = (await rot.json()) as { magic_link: string; observer_link: string };
  conv = { ...first, magic_link: links.magic_link, observer_link: links.observer_link };
  expired = tokenOf(await linkWith('read', 1));
  bystander = await Bystander.open(conv.observer_link);
  emitter = await connect(conv.magic_link, { credential: A.credential, headers: { 'x-ams-receipts': '1', 'x-ams-stream-name': 'minter' } });
  await emitter.joined();
  // A stream of A's that nobody holds: attachable by A, a conflict for B.
  const idle = await connect(conv.magic_link, { credential: A.credential, headers: { 'x-ams-stream-name': IDLE } });
  await idle.joined();
  await idle.close();
  await heartbeat(emitter, bystander, 'ready');
  head = bystander.seq;
  // Let the one-second link expire for real.
  await new Promise((r) => setTimeout(r, 1_100));
});

type TokenKind = 'absent' | 'empty' | 'write' | 'read' | 'altered' | 'other' | 'rotated' | 'expired' | 'junk';
type CredKind = 'none' | 'A' | 'B' | 'junk' | 'guess';
type Where = 'header' | 'query' | 'both';

interface Attempt {
  token: TokenKind;
  alias: 'real' | 'unknown' | 'invalid';
  cred: CredKind;
  credVia: 'header' | 'protocol' | 'query';
  offerV1: boolean;
  name?: { kind: 'fresh' | 'idle' | 'minterless' | 'junk'; junk: string; where: Where };
  meta?: { kind: 'good' | 'junk'; obj: Record<string, unknown>; junk: string; where: Where };
  since?: { kind: 'back' | 'beyond' | 'junk'; n: number; junk: string; where: Where | 'last-event-id' };
  epoch?: { kind: 'current' | 'other' | 'junk'; junk: string; where: Where };
  flags: { self?: string; receipts?: string; integrity?: string; where: Where };
}

const where = fc.constantFrom<Where>('header', 'query', 'both');
const flagText = fc.oneof(fc.constantFrom('true', '1', 'TRUE', ' True', 'false', '0', 'yes', 'chain', 'CHAIN'), hostileText);
const attemptArb: fc.Arbitrary<Attempt> = fc.record(
  {
    token: fc.constantFrom<TokenKind>('absent', 'empty', 'write', 'write', 'write', 'read', 'read', 'altered', 'other', 'rotated', 'expired', 'junk'),
    alias: fc.constantFrom('real', 'real', 'real', 'real', 'unknown', 'invalid') as fc.Arbitrary<'real' | 'unknown' | 'invalid'>,
    cred: fc.constantFrom<CredKind>('none', 'A', 'A', 'B', 'B', 'junk', 'guess'),
    credVia: fc.constantFrom('header', 'header', 'protocol', 'query') as fc.Arbitrary<'header' | 'protocol' | 'query'>,
    offerV1: fc.boolean(),
    name: fc.record({ kind: fc.constantFrom('fresh', 'fresh', 'idle', 'minterless', 'minterless', 'junk') as fc.Arbitrary<'fresh' | 'idle' | 'minterless' | 'junk'>, junk: hostileText.filter((s) => !STREAM_NAME_RE.test(s)), where }),
    meta: fc.record({ kind: fc.constantFrom('good', 'good', 'good', 'junk') as fc.Arbitrary<'good' | 'junk'>, obj: jsonObjectArb, junk: hostileText, where }),
    since: fc.record({ kind: fc.constantFrom('back', 'back', 'back', 'beyond', 'junk') as fc.Arbitrary<'back' | 'beyond' | 'junk'>, n: fc.nat({ max: 1000 }), junk: hostileText, where: fc.constantFrom<Where | 'last-event-id'>('header', 'query', 'both', 'last-event-id') }),
    epoch: fc.record({ kind: fc.constantFrom('current', 'current', 'other', 'other', 'junk') as fc.Arbitrary<'current' | 'other' | 'junk'>, junk: hostileText.filter((s) => !EPOCH_RE.test(s)), where }),
    flags: fc.record({ self: flagText, receipts: flagText, integrity: flagText, where }, { requiredKeys: ['where'] }),
  },
  { requiredKeys: ['token', 'alias', 'cred', 'credVia', 'offerV1', 'flags'] },
);

let fresh = 0;

function tokenFor(kind: TokenKind): string | undefined {
  const t = tokenOf(kind === 'read' ? conv.observer_link : conv.magic_link);
  switch (kind) {
    case 'absent': return undefined;
    case 'empty': return '';
    case 'write': return t;
    case 'read': return tokenOf(conv.observer_link);
    case 'altered': return t.slice(0, 3) + (t[3] === 'A' ? 'B' : 'A') + t.slice(4);
    case 'other': return tokenOf(other.magic_link);
    case 'rotated': return rotatedOut.write;
    case 'expired': return expired;
    case 'junk': return 'w1.not-a-token..x';
  }
}

function credentialFor(kind: CredKind): string | undefined {
  switch (kind) {
    case 'none': return undefined;
    case 'A': return A.credential;
    case 'B': return B.credential;
    case 'junk': return 'ams_sk_nope';
    case 'guess': return `ams_sk_${A.namespace}.${'x'.repeat(43)}`;
  }
}

function base64(text: string): string {
  let bin = '';
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** Puts one option where the attempt says: header, query twin, or both (the header must win). */
function place(headers: Record<string, string>, query: Record<string, string>, header: string, param: string, value: string, w: Where, decoy: string): void {
  if (w === 'header' || w === 'both') headers[header] = value;
  if (w === 'query') query[param] = value;
  if (w === 'both') query[param] = decoy;
}

/** Header values cannot hold every character; such attempts go to the query string instead. */
const headerSafe = (s: string) => /^[\t\x20-\x7e\x80-\xff]*$/.test(s) && s.trim() === s;

interface Built {
  url: string;
  headers: Record<string, string>;
  expected: CloseReason | 'joined';
  scope?: 'write' | 'read';
  account?: TestAccount;
  self: boolean;
  integrity: boolean;
  receipts: boolean;
  since?: number;
  epochOther: boolean;
  name?: string;
  metadata?: Record<string, unknown>;
}

function build(a: Attempt): Built {
  const headers: Record<string, string> = {};
  const query: Record<string, string> = {};
  const t = tokenFor(a.token);
  if (t !== undefined) query.t = t;
  const cred = credentialFor(a.cred);
  const protocols: string[] = a.offerV1 ? ['ams.v1'] : [];
  if (cred !== undefined) {
    if (a.credVia === 'header') headers.Authorization = `Bearer ${cred}`;
    else if (a.credVia === 'protocol') protocols.push(`ams.bearer.${cred}`);
    else query.credential = cred;
  }
  if (protocols.length > 0) headers['Sec-WebSocket-Protocol'] = protocols.join(', ');

  let name: string | undefined;
  let nameInvalid = false;
  if (a.name) {
    const w = a.name.kind === 'junk' && !headerSafe(a.name.junk) ? 'query' : a.name.where;
    const value = a.name.kind === 'fresh' ? `f${++fresh}-${Date.now().toString(36)}` : a.name.kind === 'idle' ? IDLE : a.name.kind === 'minterless' ? `n${++fresh}` : a.name.junk;
    place(headers, query, 'X-AMS-Stream-Name', 'stream_name', value, w, 'decoy!name');
    if (STREAM_NAME_RE.test(value)) name = value;
    else nameInvalid = true;
  }
  let metaInvalid = false;
  let metadata: Record<string, unknown> | undefined;
  if (a.meta) {
    const value = a.meta.kind === 'good' ? base64(JSON.stringify(a.meta.obj)) : a.meta.junk;
    const w = headerSafe(value) ? a.meta.where : 'query';
    place(headers, query, 'X-AMS-Stream-Metadata', 'stream_metadata', value, w, '!!');
    metaInvalid = decodeMetadataHeader(value) === undefined;
    if (!metaInvalid) metadata = a.meta.obj;
  }
  let since: number | undefined;
  let cursorInvalid = false;
  if (a.since) {
    const value = a.since.kind === 'back' ? String(a.since.n % (head + 1)) : a.since.kind === 'beyond' ? String(head + 1 + a.since.n) : a.since.junk;
    const safe = headerSafe(value);
    if (a.since.where === 'last-event-id' && safe) headers['Last-Event-ID'] = value;
    else place(headers, query, 'X-AMS-Since', 'since', value, a.since.where === 'last-event-id' || !safe ? 'query' : a.since.where, 'junk');
    const parsed = parseCursor(value);
    if (parsed === 'invalid') cursorInvalid = true;
    else since = parsed;
  }
  let epochOther = false;
  if (a.epoch) {
    const value = a.epoch.kind === 'current' ? conv.epoch : a.epoch.kind === 'other' ? 'someotherepoch' : a.epoch.junk;
    place(headers, query, 'X-AMS-Epoch', 'epoch', value, headerSafe(value) ? a.epoch.where : 'query', '!');
    if (!EPOCH_RE.test(value)) cursorInvalid = true;
    else epochOther = value !== conv.epoch;
  }
  const flags = a.flags;
  const fw = [flags.self, flags.receipts, flags.integrity].every((v) => v === undefined || headerSafe(v)) ? flags.where : 'query';
  if (flags.self !== undefined) place(headers, query, 'X-AMS-Self-Subscribe', 'self_subscribe', flags.self, fw, 'false');
  if (flags.receipts !== undefined) place(headers, query, 'X-AMS-Receipts', 'receipts', flags.receipts, fw, 'false');
  if (flags.integrity !== undefined) place(headers, query, 'X-AMS-Integrity', 'integrity', flags.integrity, fw, 'none');

  const alias = a.alias === 'real' ? conv.alias : a.alias === 'unknown' ? `nobody-${fresh}` : 'Not_An-Alias';
  const url = new URL(routeOf(`${ORIGIN}/${A.namespace}/conversations/${alias}`, '/connect'));
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);

  const base = { url: url.toString(), headers, self: false, integrity: (flags.integrity ?? '').toLowerCase() === 'chain', receipts: parseFlag(flags.receipts), since, epochOther };
  const verdict = (expected: CloseReason | 'joined', extra: Partial<Built> = {}): Built => ({ ...base, expected, ...extra });
  // The published order, step by step.
  if (!t) return verdict('invalid_magic_link');
  if (a.alias !== 'real') return verdict('conversation_not_found');
  if (a.token !== 'write' && a.token !== 'read') return verdict('invalid_magic_link');
  const scope = a.token;
  const account = scope === 'write' && a.credVia !== 'query' ? (a.cred === 'A' ? A : a.cred === 'B' ? B : undefined) : undefined;
  if (scope === 'write') {
    if (!account) return verdict('invalid_credential');
    if (nameInvalid) return verdict('invalid_stream_name_header');
    if (metaInvalid) return verdict('invalid_stream_metadata_header');
  }
  if (cursorInvalid) return verdict('invalid_cursor');
  if (scope === 'write' && account === B && name === IDLE) return verdict('stream_name_conflict');
  if (since !== undefined && !epochOther && since > head) return verdict('invalid_cursor');
  return verdict('joined', { scope, account, self: scope === 'write' && parseFlag(flags.self), name, metadata });
}

it('gives every connect attempt the verdict of the published check order, and disturbs no one', async () => {
  let joins = 0;
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(attemptArb, async (attempt) => {
      const b = build(attempt);
      const res = await upgrade(b.url, { headers: b.headers });
      expect(res.status).toBe(101);
      const peer = new Peer(res.webSocket!, res.headers.get('sec-websocket-protocol'));
      try {
        const offered = (b.headers['Sec-WebSocket-Protocol'] ?? '').split(',').map((p) => p.trim());
        expect(peer.protocol).toBe(offered.includes('ams.v1') ? 'ams.v1' : null);
        seen.set(b.expected, (seen.get(b.expected) ?? 0) + 1);
        if (b.expected !== 'joined') {
          const closed = await peer.closed;
          expect(expectDocumentedClose(closed)).toBe(b.expected);
          expect(peer.frames).toEqual([]);
          return;
        }
        const joined = await peer.joined();
        joins += 1;
        expect(joined.scope).toBe(b.scope);
        expect(joined.self_subscribe).toBe(b.self);
        expect(joined.head_chain !== undefined).toBe(b.integrity);
        if (b.scope === 'read') expect(joined.stream_id).toBeNull();
        else {
          expect(joined.stream_id).toMatch(/^str_/);
          if (b.name) expect(joined.stream_name).toBe(b.name);
          // Metadata arrives key for key, whatever characters it holds.
          if (b.metadata) expect(JSON.stringify(joined.metadata)).toBe(JSON.stringify(b.metadata));
          head += 1; // its stream_joined
        }
        expect(joined.seq).toBe(head);
        await bystander.reach(head);
        await expectReplay(peer, joined, b);
        await peer.close();
        if (b.scope === 'write') {
          head += 1; // its stream_left
          await bystander.reach(head);
          const [j, l] = bystander.peer.logged().slice(-2);
          expect(j).toMatchObject({ type: 'stream_joined', stream_id: joined.stream_id, owner_account_id: b.account!.account_id });
          expect(l).toMatchObject({ type: 'stream_left', stream_id: joined.stream_id });
        }
      } catch (failure) {
        // A failed attempt leaves nothing behind for the shrinker's next ones: its socket is closed and
        // the head re-read, so a later attempt is judged on its own (not refused for streams still held).
        if (!peer.isClosed) await peer.close();
        head = await heartbeat(emitter, bystander, 'resync');
        throw failure;
      }
      bystander.assertIntact();
    }),
    { seed: SEED, numRuns: 300 },
  );
  // The fuzz must have reached deep into the order, not only its first step.
  for (const verdict of ['joined', 'invalid_magic_link', 'conversation_not_found', 'invalid_credential', 'invalid_stream_name_header', 'invalid_cursor']) {
    expect(seen.get(verdict) ?? 0, `attempts ending in ${verdict}`).toBeGreaterThan(0);
  }
  expect(joins).toBeGreaterThan(20);
  await heartbeat(emitter, bystander, 'still here');
  bystander.assertIntact();
  expect(emitter.isClosed).toBe(false);
}, 120_000);

it('hands the conversation an ASCII-only admission, whatever script the metadata is written in', async () => {
  const set = vi.spyOn(Headers.prototype, 'set');
  try {
    const metadata = { 名前: 'エージェント', emoji: '😀', rtl: '\u202eabc', nul: '\u0000' };
    const peer = await connect(conv.magic_link, { credential: B.credential, headers: { 'X-AMS-Stream-Metadata': base64(JSON.stringify(metadata)) } });
    const joined = await peer.joined();
    expect(joined.metadata).toEqual(metadata);
    const admissions = set.mock.calls.filter(([name]) => name === 'x-ams-admission').map(([, value]) => value);
    expect(admissions.length).toBeGreaterThan(0);
    for (const value of admissions) expect(/^[\x20-\x7e]*$/.test(value)).toBe(true);
    await peer.close();
    head += 2;
    await bystander.reach(head);
  } finally {
    set.mockRestore();
  }
});

/** The replay a cursor earns: exactly the frames after it that this connection hears, after an x_truncated when the epoch differs. */
async function expectReplay(peer: Peer, joined: JoinedFrame, b: Built): Promise<void> {
  if (b.since === undefined) {
    // No cursor: nothing but what happens live (nothing here, the test is sequential).
    expect(peer.frames.length).toBe(1);
    return;
  }
  const hears = (owner: string) => !b.account || owner !== b.account.account_id || b.self;
  const from = b.epochOther ? 1 : b.since + 1;
  const expected = bystander.peer.logged().filter((f) => f.seq >= from && f.seq <= joined.seq && hears((f as { owner_account_id: string }).owner_account_id));
  const total = 1 + (b.epochOther ? 1 : 0) + expected.length;
  await peer.until(() => peer.frames.length >= total, 'replay');
  let i = 1;
  if (b.epochOther) {
    expect(peer.frames[i++]).toEqual({ type: 'x_truncated', from_seq: 1, to_seq: 0, epoch: conv.epoch, ts: expect.stringMatching(ISO_TS) });
  }
  const replayed = peer.frames.slice(i).map((f) => {
    const { chain, ...rest } = f as { chain?: string };
    expect(chain !== undefined).toBe(b.integrity);
    return rest;
  });
  expect(replayed).toEqual(expected);
}
