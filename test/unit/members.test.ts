/**
 * MCP memberships in Node, over the real stores on an in-process SQLite: a
 * long-poll is woken only by a frame its membership hears, memberships come
 * back from their rows, and "may this member write" is the conversation's rule.
 */
import { describe, expect, it } from 'vitest';
import { Conversation } from '../../src/conversation/conversation';
import type { Joined, Outcome } from '../../src/conversation/members/rpc';
import { McpMembers } from '../../src/conversation/members/members';
import type { Sql } from '../../src/conversation/sql';
import { ConversationStore } from '../../src/conversation/store';
import type { ConversationRecord } from '../../src/protocol/records';
import { memorySql } from '../support/sqlite';

const record = (maxFrames: number): ConversationRecord => ({
  conversation_id: 'conv_1', namespace: 'ns', alias: 'room', id_kind: 'ulid', metadata: {}, created_at: '2026-01-01T00:00:00.000Z',
  owner_account_id: 'acc_a', history: { max_frames: maxFrames, max_age_s: 86_400 }, epoch: 'ep_1', generation: 1,
});
let n = 0;
const ids = { streamId: () => `str_${++n}`, streamName: () => `name-${n}` };
const claims = (scope: 'write' | 'read') => ({ conversation_id: 'conv_1', scope, generation: 1 }) as never;

async function world(maxFrames = 1_000) {
  const sql = await memorySql();
  const conv = new Conversation(new ConversationStore(sql), ids);
  conv.create(record(maxFrames), { stream_id: 'str_minted', stream_name: 'minted', owner_account_id: 'acc_a', metadata: {}, created_at: '2026-01-01T00:00:00.000Z', connected_once: false });
  const members = new McpMembers(conv, sql, () => {});
  return { sql, conv, members };
}

function joined(o: Outcome<Joined>): Joined {
  if (!o.ok) throw new Error(o.error);
  return o.value;
}

const flush = () => new Promise((r) => setTimeout(r, 20));

describe.each([['history on', 1_000], ['history off', 0]])('MCP members (%s)', (_label, maxFrames) => {
  it('a long-poll is woken by a frame its member hears, not by its own account\'s frames', async () => {
    const { conv, members } = await world(maxFrames);
    // Each look at what a member may read starts from the window: count the looks.
    let looks = 0;
    const window = conv.window.bind(conv);
    conv.window = (now?: number) => {
      looks++;
      return window(now);
    };
    const a = joined(members.join({ claims: claims('write'), account_id: 'acc_a', stream_name: 'a-one' }));
    const a2 = joined(members.join({ claims: claims('write'), account_id: 'acc_a', stream_name: 'a-two' }));
    const b = joined(members.join({ claims: claims('write'), account_id: 'acc_b' }));
    // Catch up first (b's arrival), so the poll below has nothing to read yet.
    const caught = await members.recv(a.ref, { wait_ms: 0, max: 10, advance: true });
    if (!caught.ok) throw new Error(caught.error);
    expect(members.commitRead(a.ref, caught.value.proposal!)).toEqual({ ok: true, value: { committed: true } });
    let done = false;
    const poll = members.recv(a.ref, { wait_ms: 20_000, max: 10, advance: true }).then((r) => {
      done = true;
      return r;
    });
    await flush();
    expect(members.longPolls).toBe(1);
    // The same account's other stream: structurally inaudible, so the poll is not even woken.
    const before = looks;
    expect(members.send(a2.ref, { data: 'to myself' }).ok).toBe(true);
    await flush();
    expect(done).toBe(false);
    expect(looks).toBe(before);
    expect(members.send(b.ref, { data: 'hello a' }).ok).toBe(true);
    const got = await poll;
    expect(members.longPolls).toBe(0);
    if (!got.ok) throw new Error(got.error);
    expect(got.value.frames.filter((f) => f.type === 'token').map((f) => f.data)).toEqual(['hello a']);
  });

  it('a long-poll ends when its membership is taken over', async () => {
    const { members } = await world(maxFrames);
    const a = joined(members.join({ claims: claims('write'), account_id: 'acc_a', stream_name: 'desk' }));
    const poll = members.recv(a.ref, { wait_ms: 20_000, max: 10, advance: true });
    await flush();
    joined(members.join({ claims: claims('write'), account_id: 'acc_a', stream_name: 'desk' }));
    const r = await poll;
    expect(r).toMatchObject({ ok: false, ended: true });
  });
});

describe('MCP members', () => {
  it('a read moves the read position only when its proposal is committed, and only from where it read (decisions/0120)', async () => {
    const { members } = await world();
    const a = joined(members.join({ claims: claims('write'), account_id: 'acc_a', stream_name: 'reader' }));
    const b = joined(members.join({ claims: claims('write'), account_id: 'acc_b', stream_name: 'speaker' }));
    expect(members.send(b.ref, { data: 'one' }).ok).toBe(true);
    const tokens = (r: Awaited<ReturnType<typeof members.recv>>) => (r.ok ? r.value.frames.filter((f) => f.type === 'token').map((f) => f.data) : r.error);
    // A read nobody commits (its client went away) moved nothing: the next read gets the same.
    const first = await members.recv(a.ref, { wait_ms: 0, max: 10, advance: true });
    const again = await members.recv(a.ref, { wait_ms: 0, max: 10, advance: true });
    expect(tokens(first)).toEqual(['one']);
    expect(tokens(again)).toEqual(['one']);
    if (!first.ok || !again.ok) throw new Error('read failed');
    expect(members.commitRead(a.ref, again.value.proposal!)).toEqual({ ok: true, value: { committed: true } });
    // The same answer committed twice changes nothing; both reads proposed the same move.
    expect(members.commitRead(a.ref, first.value.proposal!)).toEqual({ ok: true, value: { committed: true } });
    expect(tokens(await members.recv(a.ref, { wait_ms: 0, max: 10, advance: true }))).toEqual([]);
    // A read that started before another committed cannot move the position back or past it.
    expect(members.send(b.ref, { data: 'two' }).ok).toBe(true);
    const late = await members.recv(a.ref, { wait_ms: 0, max: 10, advance: true });
    expect(members.send(b.ref, { data: 'three' }).ok).toBe(true);
    const fresh = await members.recv(a.ref, { wait_ms: 0, max: 10, advance: true });
    if (!late.ok || !fresh.ok) throw new Error('read failed');
    expect(members.commitRead(a.ref, fresh.value.proposal!).ok && (members.commitRead(a.ref, late.value.proposal!) as { value: { committed: boolean } }).value.committed).toBe(false);
    expect(tokens(await members.recv(a.ref, { wait_ms: 0, max: 10, advance: true }))).toEqual([]);
    // A session that lost the membership commits nothing.
    expect(members.commitRead({ ...a.ref, lease: 'ls_other' }, fresh.value.proposal!)).toEqual({ ok: true, value: { committed: false } });
  });

  it('an observer may not write, by the conversation\'s rule', async () => {
    const { members } = await world();
    const obs = joined(members.join({ claims: claims('read'), account_id: 'acc_z' }));
    expect(members.send(obs.ref, { data: 'hi' })).toMatchObject({ ok: false, error: 'read_only' });
  });

  it('come back from their rows when the object is rebuilt, and displaced ones do not', async () => {
    const { sql, conv, members } = await world();
    const a = joined(members.join({ claims: claims('write'), account_id: 'acc_a', stream_name: 'kept' }));
    expect(members.size).toBe(1);
    // A new object over the same storage (what a wake after hibernation does).
    const conv2 = new Conversation(new ConversationStore(sql), ids);
    const members2 = new McpMembers(conv2, sql, () => {});
    expect(members2.size).toBe(1);
    expect(conv2.isHeld(a.stream_id!)).toBe(true);
    expect(members2.send(a.ref, { data: 'after the wake' })).toMatchObject({ ok: true });
    expect(conv.connectionCount).toBe(1);
    expect(tableCount(sql)).toBe(1);
  });
});

function tableCount(sql: Sql): number {
  return sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'mcp_members'").one().n;
}
