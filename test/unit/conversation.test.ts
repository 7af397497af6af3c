/**
 * `Conversation` in Node, over the real ConversationStore on an in-process
 * SQLite: membership, takeover, structural self-exclusion and resume ranges,
 * with no Durable Object runtime in the way.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Wire, type Member } from '../../src/conversation/audience';
import type { Connection } from '../../src/conversation/connection';
import { Conversation } from '../../src/conversation/conversation';
import type { JoinRequest } from '../../src/conversation/join';
import { ConversationStore } from '../../src/conversation/store';
import type { ConversationRecord, StreamRecord } from '../../src/protocol/records';
import type { CloseReason } from '../../src/protocol/close-codes';
import type { LoggedFrame, Scope } from '../../src/protocol/frames';
import { LIMITS } from '../../src/protocol/limits';
import { memorySql } from '../support/sqlite';

type Frame = Record<string, unknown> & { type: string };

/** A connection that keeps what it is sent, parsed, and how it was closed. */
class Probe implements Connection {
  readonly member: Member;
  readonly got: Frame[] = [];
  readonly frames: LoggedFrame[] = [];
  closedWith: CloseReason | undefined;
  constructor(readonly accountId: string | null, readonly scope: Scope, public streamId: string | null = null, selfSubscribe = false,
    readonly generation = 1, readonly receipts = false) {
    this.member = { sink: this, accountId, selfSubscribe, wire: Wire.Json };
  }
  send(text: string, frame?: LoggedFrame): void {
    if (this.closedWith) throw new Error('send after close');
    this.got.push(JSON.parse(text) as Frame);
    if (frame) this.frames.push(frame);
  }
  close(reason: CloseReason): void {
    if (this.closedWith) throw new Error('closed twice');
    this.closedWith = reason;
  }
  types(): string[] {
    return this.got.map((f) => f.type);
  }
  tokens(): unknown[] {
    return this.got.filter((f) => f.type === 'token').map((f) => f.data);
  }
}

const record = (maxFrames = 1_000): ConversationRecord => ({
  conversation_id: 'conv_1', namespace: 'ns', alias: 'room', id_kind: 'ulid', metadata: {}, created_at: '2026-01-01T00:00:00.000Z',
  owner_account_id: 'acc_a', history: { max_frames: maxFrames, max_age_s: 86_400 }, epoch: 'ep_1', generation: 1,
});
const minterStream: StreamRecord = {
  stream_id: 'str_minted', stream_name: 'minted', owner_account_id: 'acc_a', metadata: {}, created_at: '2026-01-01T00:00:00.000Z', connected_once: false,
};

let n = 0;
const ids = { streamId: () => `str_${++n}`, streamName: () => `name-${n}` };

async function conversation(maxFrames?: number): Promise<Conversation> {
  const conv = new Conversation(new ConversationStore(await memorySql()), ids);
  expect(conv.create(record(maxFrames), { ...minterStream })).toBe(true);
  return conv;
}

const writer = (accountId: string, extra: Partial<JoinRequest> = {}): JoinRequest => ({
  accountId, scope: 'write', generation: 1, selfSubscribe: false, chain: false, cursor: {}, ...extra,
});
const reader = (extra: Partial<JoinRequest> = {}): JoinRequest => ({
  accountId: null, scope: 'read', generation: 1, selfSubscribe: false, chain: false, cursor: {}, ...extra,
});

/** Admits a probe through decideJoin + admit, as every transport does. */
function join(conv: Conversation, req: JoinRequest): Probe {
  const outcome = conv.decideJoin(req);
  if (!outcome.ok) throw new Error(`refused: ${outcome.reason}`);
  const probe = new Probe(req.accountId, req.scope, outcome.stream?.stream_id ?? null, req.selfSubscribe);
  conv.admit(probe, req, outcome);
  return probe;
}

function say(conv: Conversation, probe: Probe, data: string): number {
  const stream = conv.writableStream(probe);
  if (!stream) throw new Error('may not write');
  const out = conv.emit(stream, { data });
  if (!out.ok) throw new Error(out.reason);
  return out.seq;
}

describe('Conversation: membership', () => {
  let conv: Conversation;
  beforeEach(async () => {
    conv = await conversation();
  });

  it('a writer gets its stream (the minter its minted one), joined first, and is announced to the others', () => {
    const obs = join(conv, reader());
    const a = join(conv, writer('acc_a'));
    expect(a.streamId).toBe('str_minted');
    expect(a.got[0]).toMatchObject({ type: 'joined', stream_id: 'str_minted', seq: 1, scope: 'write' });
    expect(obs.got.at(-1)).toMatchObject({ type: 'stream_joined', stream_id: 'str_minted', seq: 1 });
    expect(conv.isHeld('str_minted')).toBe(true);
    expect(conv.connectionCount).toBe(2);
  });

  it('leave announces stream_left and frees the stream; closeAll closes everyone and logs nothing', () => {
    const obs = join(conv, reader());
    const a = join(conv, writer('acc_a'));
    conv.leave(a);
    expect(obs.got.at(-1)).toMatchObject({ type: 'stream_left', stream_id: 'str_minted' });
    expect(conv.isHeld('str_minted')).toBe(false);
    expect(conv.writableStream(a)).toBeUndefined();
    const b = join(conv, writer('acc_b'));
    const head = conv.head.seq;
    conv.closeAll('conversation_closed');
    expect([obs.closedWith, b.closedWith]).toEqual(['conversation_closed', 'conversation_closed']);
    expect(conv.head.seq).toBe(head);
    expect(conv.connectionCount).toBe(0);
  });

  it('an observer may not write; rotation closes connections of the older generation', () => {
    const obs = join(conv, reader());
    expect(conv.writableStream(obs)).toBeUndefined();
    const a = join(conv, writer('acc_a'));
    expect(conv.rotate()).toBe(2);
    expect([obs.closedWith, a.closedWith]).toEqual(['invalid_magic_link', 'invalid_magic_link']);
    expect(conv.record!.generation).toBe(2);
  });

  it('restore puts a connection back without announcing it, and refuses a stream someone else holds', () => {
    const a = join(conv, writer('acc_a'));
    const head = conv.head.seq;
    const ghost = new Probe('acc_a', 'write', 'str_minted');
    expect(conv.restore(ghost)).toBe(false);
    expect(conv.restore(new Probe('acc_a', 'write', 'str_unknown'))).toBe(false);
    const obs = new Probe(null, 'read');
    expect(conv.restore(obs)).toBe(true);
    expect(conv.head.seq).toBe(head);
    say(conv, a, 'hello');
    expect(obs.tokens()).toEqual(['hello']);
  });

  it('refuses a connection past the conversation limit', () => {
    for (let i = 0; i < LIMITS.connectionsPerConversation; i++) conv.restore(new Probe(null, 'read'));
    expect(conv.decideJoin(reader())).toEqual({ ok: false, reason: 'conversation_full' });
  });
});

describe('Conversation: takeover', () => {
  it('a second connection on a held stream displaces the first, which is closed and no longer writes', async () => {
    const conv = await conversation();
    const obs = join(conv, reader());
    const first = join(conv, writer('acc_b', { streamName: 'desk' }));
    const before = obs.got.length;
    const second = join(conv, writer('acc_b', { streamName: 'desk' }));
    expect(first.closedWith).toBe('stream_displaced');
    expect(second.got[0]).toMatchObject({ type: 'joined', stream_name: 'desk', resumed: true });
    // A takeover is not a leave and a join: the audience hears nothing.
    expect(obs.got.length).toBe(before);
    expect(conv.writableStream(first)).toBeUndefined();
    expect(conv.writableStream(second)?.stream_name).toBe('desk');
    say(conv, second, 'still here');
    expect(obs.tokens()).toEqual(['still here']);
    // Leaving the displaced one later changes nothing.
    conv.leave(first);
    expect(conv.isHeld(second.streamId!)).toBe(true);
  });

  it('another account may not take a named stream; an HTTP emit never takes one over', async () => {
    const conv = await conversation();
    join(conv, writer('acc_b', { streamName: 'desk' }));
    expect(conv.decideJoin(writer('acc_c', { streamName: 'desk' }))).toEqual({ ok: false, reason: 'stream_name_conflict' });
    const choice = conv.streamForEmit('acc_b', 'desk');
    expect(choice).toMatchObject({ ok: true, takeover: false, stream: { stream_name: 'desk' } });
    expect(conv.streamForEmit('acc_c', 'desk')).toEqual({ ok: false, reason: 'stream_name_conflict' });
  });
});

describe('Conversation: structural self-exclusion', () => {
  it("an account's connections never hear its own streams unless they subscribe to themselves", async () => {
    const conv = await conversation();
    const a1 = join(conv, writer('acc_a'));
    const a2 = join(conv, writer('acc_a', { streamName: 'second' }));
    const echo = join(conv, writer('acc_a', { streamName: 'echo', selfSubscribe: true }));
    const b = join(conv, writer('acc_b'));
    const obs = join(conv, reader());
    say(conv, a1, 'from a');
    say(conv, b, 'from b');
    expect(a1.tokens()).toEqual(['from b']);
    expect(a2.tokens()).toEqual(['from b']);
    expect(echo.tokens()).toEqual(['from a', 'from b']);
    expect(b.tokens()).toEqual(['from a']);
    expect(obs.tokens()).toEqual(['from a', 'from b']);
    // Sinks are handed the logged frame object with the text.
    expect(b.frames.find((f) => f.type === 'token')).toMatchObject({ data: 'from a', owner_account_id: 'acc_a' });
  });

  it('replay follows the same rule', async () => {
    const conv = await conversation();
    const a = join(conv, writer('acc_a'));
    const b = join(conv, writer('acc_b'));
    say(conv, a, 'a1');
    say(conv, b, 'b1');
    const late = join(conv, writer('acc_a', { streamName: 'late', cursor: { since: 0 } }));
    expect(late.tokens()).toEqual(['b1']);
  });
});

describe('Conversation: resume ranges', () => {
  async function withTen(maxFrames: number): Promise<Conversation> {
    const conv = await conversation(maxFrames);
    const b = join(conv, writer('acc_b'));
    while (conv.head.seq < 10) say(conv, b, `t${conv.head.seq + 1}`);
    return conv;
  }
  const seqs = (p: Probe) => p.got.filter((f) => f.type !== 'joined' && f.type !== 'x_truncated').map((f) => f.seq);

  it('replays every frame after since, then goes live', async () => {
    const conv = await withTen(1_000);
    const obs = join(conv, reader({ cursor: { since: 7, epoch: 'ep_1' } }));
    expect(obs.types()[0]).toBe('joined');
    expect(seqs(obs)).toEqual([8, 9, 10]);
    join(conv, writer('acc_c'));
    expect(seqs(obs)).toEqual([8, 9, 10, 11]);
  });

  it('names the exact lost range before the window when since is older than the log keeps', async () => {
    const conv = await withTen(4);
    conv.trim();
    const obs = join(conv, reader({ cursor: { since: 2, epoch: 'ep_1' } }));
    expect(obs.got[1]).toEqual({ type: 'x_truncated', from_seq: 3, to_seq: 6, epoch: 'ep_1', ts: expect.any(String) });
    expect(seqs(obs)).toEqual([7, 8, 9, 10]);
  });

  it('reports everything lost for a cursor of another epoch, and refuses one beyond the head', async () => {
    const conv = await withTen(4);
    conv.trim();
    const obs = join(conv, reader({ cursor: { since: 9, epoch: 'ep_old' } }));
    expect(obs.got[1]).toEqual({ type: 'x_truncated', from_seq: 1, to_seq: 6, epoch: 'ep_1', ts: expect.any(String) });
    expect(seqs(obs)).toEqual([7, 8, 9, 10]);
    expect(conv.decideJoin(reader({ cursor: { since: 11, epoch: 'ep_1' } }))).toEqual({ ok: false, reason: 'invalid_cursor' });
  });

  it('no since: live frames only', async () => {
    const conv = await withTen(1_000);
    const obs = join(conv, reader());
    expect(obs.types()).toEqual(['joined']);
  });
});
