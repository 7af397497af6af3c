/**
 * Issue 14 regressions at the `Conversation` level: registered streams per
 * account (and their retirement), the readers' budget that keeps room for
 * writers, and the emit rate per account across all its streams.
 */
import { inspectConversation } from '../../src/conversation/inspect';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signLink, verifyLink } from '../../src/control/links';
import { claimsValid } from '../../src/conversation/admission';
import { Wire, type Member } from '../../src/conversation/audience';
import { signResumeKey, verifyResumeKey } from '../../src/mcp/resume-key';
import type { Connection } from '../../src/conversation/connection';
import { Conversation } from '../../src/conversation/conversation';
import type { JoinRequest } from '../../src/conversation/join';
import { McpMembers } from '../../src/conversation/members/members';
import { ConversationStore } from '../../src/conversation/store';
import type { CloseReason } from '../../src/protocol/close-codes';
import type { Scope } from '../../src/protocol/frames';
import { LIMITS } from '../../src/protocol/limits';
import type { ConversationRecord } from '../../src/protocol/records';
import { memorySql } from '../support/sqlite';

class Probe implements Connection {
  readonly member: Member;
  closedWith: CloseReason | undefined;
  constructor(readonly accountId: string | null, readonly scope: Scope, readonly streamId: string | null = null, readonly generation = 1, readonly receipts = false) {
    this.member = { sink: this, accountId, selfSubscribe: false, wire: Wire.Json };
  }
  send(): void {}
  close(reason: CloseReason): void {
    this.closedWith = reason;
  }
}

const record: ConversationRecord = {
  conversation_id: 'conv_1', namespace: 'ns', alias: 'room', id_kind: 'ulid', metadata: {}, created_at: '2026-01-01T00:00:00.000Z',
  owner_account_id: 'acc_a', history: { max_frames: 100_000, max_age_s: 86_400 }, epoch: 'ep_1', generation: 1,
};

async function conversation(clock: () => number): Promise<Conversation> {
  let n = 0;
  const conv = new Conversation(new ConversationStore(await memorySql()), { streamId: () => `str_${++n}`, streamName: () => `auto-${n}` }, clock);
  conv.create({ ...record }, { stream_id: 'str_minted', stream_name: 'minted', owner_account_id: 'acc_a', metadata: {}, created_at: record.created_at, connected_once: false });
  return conv;
}

const writer = (accountId: string, streamName?: string): JoinRequest => ({
  accountId, scope: 'write', generation: 1, selfSubscribe: false, chain: false, cursor: {}, ...(streamName ? { streamName } : {}),
});
const reader: JoinRequest = { accountId: null, scope: 'read', generation: 1, selfSubscribe: false, chain: false, cursor: {} };

function join(conv: Conversation, req: JoinRequest): Probe | CloseReason {
  const outcome = conv.decideJoin(req);
  if (!outcome.ok) return outcome.reason;
  const probe = new Probe(req.accountId, req.scope, outcome.stream?.stream_id ?? null);
  conv.admit(probe, req, outcome);
  return probe;
}

describe('registered streams per account', () => {
  it('one account rotating names registers at most its cap; others can still join', async () => {
    let now = 1_000_000;
    const conv = await conversation(() => now);
    let refused = 0;
    for (let i = 0; i < 200; i++) {
      const choice = conv.streamForEmit('acc_b', `s${i}`);
      if (!choice.ok) refused++;
      else expect(conv.emit(choice.stream, { data: 'x' }).ok).toBe(true);
    }
    expect([...conv.streams.all()].filter((s) => s.owner_account_id === 'acc_b')).toHaveLength(LIMITS.streamsRegisteredPerAccount);
    expect(refused).toBe(200 - LIMITS.streamsRegisteredPerAccount);
    expect(conv.streamForEmit('acc_b', 's999')).toEqual({ ok: false, reason: 'concurrency_limit' });
    // A newcomer is never locked out by someone else's streams.
    expect(conv.streamForEmit('acc_c', 'mine').ok).toBe(true);
    expect(join(conv, writer('acc_d'))).toBeInstanceOf(Probe);
  });

  it('retires the quietest idle stream at the cap: its name is free again, the log keeps its frames', async () => {
    let now = 1_000_000;
    const conv = await conversation(() => now);
    for (let i = 0; i < LIMITS.streamsRegisteredPerAccount; i++) {
      const c = conv.streamForEmit('acc_b', `s${i}`);
      if (!c.ok) throw new Error(c.reason);
      conv.emit(c.stream, { data: `from s${i}` });
      now += 10;
    }
    const head = conv.head.seq;
    now += LIMITS.streamRetireIdleMs;
    // s0 has been quiet longest and nobody holds it: it makes room.
    const next = conv.streamForEmit('acc_b', 'fresh');
    expect(next.ok).toBe(true);
    expect(conv.streams.named('s0')).toBeUndefined();
    expect(conv.streams.named('s1')).toBeDefined();
    expect([...conv.rows(1, 100)].map((r) => (JSON.parse(r.frame) as { data?: string }).data)).toContain('from s0');
    expect(conv.head.seq).toBe(head);
    // The retired name is free again (for anyone).
    expect(conv.streamForEmit('acc_c', 's0').ok).toBe(true);
  });

  it('a held stream is never retired', async () => {
    let now = 1_000_000;
    const conv = await conversation(() => now);
    const held: Probe[] = [];
    for (let i = 0; i < LIMITS.streamsRegisteredPerAccount; i++) held.push(join(conv, writer('acc_b', `h${i}`)) as Probe);
    now += LIMITS.streamRetireIdleMs * 10;
    expect(conv.streamForEmit('acc_b', 'another')).toEqual({ ok: false, reason: 'concurrency_limit' });
    expect(held.every((p) => conv.isHeld(p.streamId!))).toBe(true);
  });
});

describe('writers keep their capacity', () => {
  it('readers stop at their budget; writers still join in the reserve', async () => {
    const conv = await conversation(() => 1_000_000);
    for (let i = 0; i < LIMITS.readerConnectionsPerConversation; i++) expect(conv.restore(new Probe(null, 'read'))).toBe(true);
    expect(join(conv, reader)).toBe('conversation_full');
    for (let i = 0; i < LIMITS.writerReserve; i++) expect(join(conv, writer(`acc_w${i}`))).toBeInstanceOf(Probe);
    expect(conv.connectionCount).toBe(LIMITS.connectionsPerConversation);
    expect(join(conv, writer('acc_late'))).toBe('conversation_full');
  });
});

describe('emit rate per account', () => {
  it('rotating stream names does not multiply the budget', async () => {
    const now = 1_000_000;
    const conv = await conversation(() => now);
    let sent = 0;
    for (let i = 0; i < LIMITS.streamsRegisteredPerAccount; i++) {
      const c = conv.streamForEmit('acc_b', `r${i}`);
      if (!c.ok) throw new Error(c.reason);
      while (conv.emit(c.stream, { data: 'x' }).ok) sent++;
    }
    expect(sent).toBe(LIMITS.emitBurstPerAccount);
    // Another account's budget is its own.
    const other = conv.streamForEmit('acc_c', 'c');
    expect(other.ok && conv.emit(other.stream, { data: 'y' }).ok).toBe(true);
    // A batch takes from both buckets or from neither.
    const b = conv.streamForEmit('acc_b', 'r0');
    if (!b.ok) throw new Error(b.reason);
    expect(conv.emitBatch(b.stream, [{ data: 'z' }])).toEqual({ ok: false, reason: 'rate_limited' });
  });
});

describe('MCP presence follows calls', () => {
  it('a member that stops calling and holds no GET stream is shown gone after the quiet window; a listening one stays', async () => {
    let now = 1_000_000;
    let ids = 0;
    const sql = await memorySql();
    const conv = new Conversation(new ConversationStore(sql), { streamId: () => `str_${++ids}`, streamName: () => `auto-${ids}` }, () => now);
    conv.create({ ...record }, { stream_id: 'str_minted', stream_name: 'minted', owner_account_id: 'acc_a', metadata: {}, created_at: record.created_at, connected_once: false });
    const members = new McpMembers(conv, sql, () => {}, async () => true, () => now);
    const claims = { conversation_id: 'conv_1', scope: 'write' as const, generation: 1 };
    const quiet = members.join({ claims, account_id: 'acc_q', stream_name: 'quiet' });
    const listening = members.join({ claims, account_id: 'acc_l', stream_name: 'listening' });
    if (!quiet.ok || !listening.ok) throw new Error('join refused');
    expect(members.listen(listening.value.ref, { object: 'obj', tag: 'tag1' }).ok).toBe(true);
    const connected = () => Object.fromEntries((inspectConversation(conv).streams as Array<{ stream_name: string; connected: boolean }>).map((s) => [s.stream_name, s.connected]));
    now += LIMITS.mcpPresenceQuietMs - 1_000;
    members.collectIdle();
    expect(connected()).toMatchObject({ quiet: true, listening: true });
    now += 2_000;
    members.collectIdle();
    expect(connected()).toMatchObject({ quiet: false, listening: true });
    // Its next call rejoins it.
    expect(members.send(quiet.value.ref, { data: 'back' }).ok).toBe(true);
    expect(connected()).toMatchObject({ quiet: true });
    // When the GET stream goes, the quiet window runs from then.
    members.unlisten(listening.value.ref.member_id, 'tag1');
    now += LIMITS.mcpPresenceQuietMs + 1_000;
    members.collectIdle();
    expect(connected()).toMatchObject({ quiet: false, listening: false });
  });
});

describe('fuzz: registry, capacity and rate under random traffic', () => {
  type Op =
    | { kind: 'emit'; account: number; name: number; n: number }
    | { kind: 'join'; account: number; name: number | null; read: boolean }
    | { kind: 'leave'; pick: number }
    | { kind: 'wait'; ms: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('emit' as const), account: fc.integer({ min: 0, max: 3 }), name: fc.integer({ min: 0, max: 30 }), n: fc.integer({ min: 1, max: 1_500 }) }),
    fc.record({ kind: fc.constant('join' as const), account: fc.integer({ min: 0, max: 3 }), name: fc.option(fc.integer({ min: 0, max: 30 })), read: fc.boolean() }),
    fc.record({ kind: fc.constant('leave' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 90_000 }) }),
  );

  it('no account ever registers more than its cap, readers never take the writers\' reserve, and an account never beats its bucket', async () => {
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 80 }), async (ops) => {
      let now = 1_000_000;
      const conv = await conversation(() => now);
      const live: Probe[] = [];
      // Start near the readers' budget, so joins cross it.
      for (let i = 0; i < LIMITS.readerConnectionsPerConversation - 5; i++) {
        const p = new Probe(null, 'read');
        conv.restore(p);
        live.push(p);
      }
      // Tokens each account got logged, and the most its bucket could have allowed.
      const logged = new Map<string, number>();
      let elapsed = 0;
      for (const o of ops) {
        if (o.kind === 'wait') {
          now += o.ms;
          elapsed += o.ms;
        } else if (o.kind === 'emit') {
          const acc = `acc_${o.account}`;
          const c = conv.streamForEmit(acc, `n${o.account}-${o.name}`);
          if (!c.ok) {
            expect(c.reason).toBe('concurrency_limit');
            expect([...conv.streams.all()].filter((st) => st.owner_account_id === acc).length).toBe(LIMITS.streamsRegisteredPerAccount);
            continue;
          }
          const out = conv.emitBatch(c.stream, Array.from({ length: o.n }, () => ({ data: 'x' })));
          if (Array.isArray(out)) logged.set(acc, (logged.get(acc) ?? 0) + o.n);
        } else if (o.kind === 'join') {
          const got = join(conv, o.read ? reader : writer(`acc_${o.account}`, o.name === null ? undefined : `n${o.account}-${o.name}`));
          if (got instanceof Probe) live.push(got);
          // A writer is refused for room only when the conversation is full; readers only at their budget.
          else if (got === 'conversation_full' && !o.read) expect(conv.connectionCount).toBe(LIMITS.connectionsPerConversation);
          else if (got === 'conversation_full') expect(live.filter((p) => p.scope === 'read').length).toBe(LIMITS.readerConnectionsPerConversation);
        } else if (live.length > 0) {
          const [gone] = live.splice(o.pick % live.length, 1);
          conv.leave(gone);
        }
        for (let a = 0; a < 4; a++) {
          const acc = `acc_${a}`;
          expect([...conv.streams.all()].filter((st) => st.owner_account_id === acc).length).toBeLessThanOrEqual(LIMITS.streamsRegisteredPerAccount);
          expect(logged.get(acc) ?? 0).toBeLessThanOrEqual(LIMITS.emitBurstPerAccount + (elapsed * LIMITS.emitRatePerAccountPerSecond) / 1000);
        }
        expect(live.filter((p) => p.scope === 'read').length).toBeLessThanOrEqual(LIMITS.readerConnectionsPerConversation);
      }
    }), { numRuns: 40 });
  }, 60_000);
});

describe('links and resume keys carry their mint', () => {
  const SECRET = 's'.repeat(40);
  const claims = { conversation_id: 'conv_01hzzzzzzzzzzzzzzzzzzzzzzz', scope: 'write' as const, generation: 1, epoch: '01j0epochepochepochepochep' };

  it('a token names its epoch and is void under any other; the first format still verifies without one', () => {
    const t = signLink(SECRET, 'ns', 'room', claims);
    expect(t.split('.')).toHaveLength(5);
    expect(verifyLink(SECRET, 'ns', 'room', t, 0)).toEqual({ ok: true, claims: { ...claims, expires_at: undefined } });
    const parts = t.split('.');
    parts[3] = '01j0otherotherotherotherot';
    expect(verifyLink(SECRET, 'ns', 'room', parts.join('.'), 0)).toEqual({ ok: false, why: 'bad_signature' });
    // Dropping the epoch does not make a first-format token: the tag is over another label.
    expect(verifyLink(SECRET, 'ns', 'room', [...t.split('.').slice(0, 3), t.split('.')[4]].join('.'), 0)).toEqual({ ok: false, why: 'bad_signature' });
    const legacy = signLink(SECRET, 'ns', 'room', { ...claims, epoch: undefined });
    expect(verifyLink(SECRET, 'ns', 'room', legacy, 0)).toMatchObject({ ok: true, claims: { generation: 1 } });
  });

  it('the conversation accepts its own epoch, and the first format only when minted before links carried it', () => {
    const rec = { ...record, epoch: claims.epoch, conversation_id: claims.conversation_id };
    expect(claimsValid(claims, { ...rec, links_bind_epoch: true })).toBe(true);
    expect(claimsValid({ ...claims, epoch: 'other' }, { ...rec, links_bind_epoch: true })).toBe(false);
    expect(claimsValid({ ...claims, epoch: undefined }, { ...rec, links_bind_epoch: true })).toBe(false);
    expect(claimsValid({ ...claims, epoch: undefined }, rec)).toBe(true);
  });

  it('a resume key carries epoch and expiry; keys of the first format still verify', () => {
    const base = { ns: 'ns', alias: 'room', conversation_id: claims.conversation_id, member_id: 'str_1', account_id: 'acc_1', generation: 3 };
    const key = signResumeKey(SECRET, { ...base, epoch: claims.epoch, expires_at: 1_900_000_000 });
    expect(verifyResumeKey(SECRET, key)).toEqual({ ...base, epoch: claims.epoch, expires_at: 1_900_000_000 });
    expect(verifyResumeKey(SECRET, signResumeKey(SECRET, { ...base, epoch: claims.epoch }))).toEqual({ ...base, epoch: claims.epoch });
    expect(verifyResumeKey(SECRET, signResumeKey(SECRET, base))).toEqual(base);
  });
});
