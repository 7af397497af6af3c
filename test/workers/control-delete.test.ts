/** `DELETE /v1/{ns}/conversations/{alias}`: owner only; every socket closed 4910; then gone, and the alias is free. */
import { describe, expect, it } from 'vitest';
import {
  bearer, call, expectError, expectRejected, inspectPath, join, jsonCall, mint, newAccount, tokenOf, uniqueName, flipChar,
} from './control-helpers';

const del = (ns: string, alias: string, credential?: string) =>
  call(inspectPath(ns, alias), { method: 'DELETE', headers: credential ? bearer(credential) : {} });

describe('deleting a conversation', () => {
  it('answers 200 {deleted, conversation_id, alias} to the owner, then inspect answers 404', async () => {
    const owner = await newAccount('del');
    const m = await mint(owner);
    const res = await del(owner.namespace, m.alias, owner.credential);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deleted: true, conversation_id: m.conversation_id, alias: m.alias });
    await expectError(await call(inspectPath(owner.namespace, m.alias), { headers: bearer(owner.credential) }), 404, 'conversation_not_found');
    await expectError(await call(inspectPath(owner.namespace, m.alias, tokenOf(m.magic_link))), 404, 'conversation_not_found');
  });

  it('closes every socket, writers and observers, with 4910 conversation_closed', async () => {
    const owner = await newAccount('del-live');
    const peer = await newAccount('del-peer');
    const m = await mint(owner);
    const sockets = [
      await join(m.magic_link, { credential: owner.credential }),
      await join(m.magic_link, { credential: peer.credential }),
      await join(m.observer_link),
    ];
    expect((await del(owner.namespace, m.alias, owner.credential)).status).toBe(200);
    for (const s of sockets) expect(await s.closed).toEqual({ code: 4910, reason: 'conversation_closed' });
  });

  it('makes its links stop working: connect closes 4005 conversation_not_found, links and rotate answer 404', async () => {
    const owner = await newAccount('del-links');
    const m = await mint(owner);
    expect((await del(owner.namespace, m.alias, owner.credential)).status).toBe(200);
    await expectRejected(m.magic_link, 4005, 'conversation_not_found', { credential: owner.credential });
    await expectRejected(m.observer_link, 4005, 'conversation_not_found');
    const base = inspectPath(owner.namespace, m.alias);
    await expectError(await jsonCall('POST', `${base}/links`, { scope: 'read' }, bearer(owner.credential)), 404, 'conversation_not_found');
    await expectError(await jsonCall('POST', `${base}/links/rotate`, undefined, bearer(owner.credential)), 404, 'conversation_not_found');
  });

  it('answers 404 conversation_not_found when deleted twice, or for an alias that never existed', async () => {
    const owner = await newAccount('del-twice');
    const m = await mint(owner);
    expect((await del(owner.namespace, m.alias, owner.credential)).status).toBe(200);
    await expectError(await del(owner.namespace, m.alias, owner.credential), 404, 'conversation_not_found');
    await expectError(await del(owner.namespace, uniqueName('never'), owner.credential), 404, 'conversation_not_found');
  });
});

describe('only the owner may delete', () => {
  it('answers 403 namespace_mismatch to another account, 401 without a credential, and the conversation lives on', async () => {
    const owner = await newAccount('del-own');
    const other = await newAccount('del-other');
    const m = await mint(owner);
    const s = await join(m.observer_link);
    await expectError(await del(owner.namespace, m.alias, other.credential), 403, 'namespace_mismatch');
    await expectError(await del(owner.namespace, m.alias), 401, 'missing_credential');
    await expectError(await del(owner.namespace, m.alias, flipChar(owner.credential, owner.credential.length - 1)), 401, 'invalid_credential');
    expect((await call(inspectPath(owner.namespace, m.alias, tokenOf(m.magic_link)))).status).toBe(200);
    s.ws.send(JSON.stringify({ type: 'ping' }));
    await expect.poll(() => s.frames.some((f) => f.type === 'pong'), { timeout: 10_000 }).toBe(true);
    s.ws.close(1000, 'done');
    await s.closed;
  });
});

describe('after deletion the alias is free', () => {
  it('can be minted again as a new conversation with nothing of the old one', async () => {
    const owner = await newAccount('del-reuse');
    const alias = uniqueName('again');
    const first = await mint(owner, { alias, stream_name: 'old-stream', metadata: { v: 1 } });
    const writer = await join(first.magic_link, { credential: owner.credential });
    writer.ws.send(JSON.stringify({ type: 'token', data: 'before deletion' }));
    await expect.poll(async () => {
      const body = (await (await call(inspectPath(owner.namespace, alias), { headers: bearer(owner.credential) })).json()) as { head_seq: number };
      return body.head_seq;
    }, { timeout: 10_000 }).toBeGreaterThan(0);
    expect((await del(owner.namespace, alias, owner.credential)).status).toBe(200);
    expect(await writer.closed).toEqual({ code: 4910, reason: 'conversation_closed' });

    const second = await mint(owner, { alias, stream_name: 'new-stream', metadata: { v: 2 } });
    expect(second.alias).toBe(alias);
    expect(second.conversation_id).not.toBe(first.conversation_id);
    const body = (await (await call(inspectPath(owner.namespace, alias), { headers: bearer(owner.credential) })).json()) as {
      conversation_id: string; metadata: unknown; head_seq: number; streams: { stream_name: string; connected: boolean }[];
    };
    expect(body).toMatchObject({ conversation_id: second.conversation_id, metadata: { v: 2 }, head_seq: 0 });
    expect(body.streams).toEqual([expect.objectContaining({ stream_name: 'new-stream', connected: false })]);

    // And the reborn conversation works: its minter joins its own stream and emits.
    const again = await join(second.magic_link, { credential: owner.credential });
    expect(again.joined.stream_id).toBe(second.stream_id);
    // Its log starts over: at most the join itself is in it.
    const joinedAt = again.joined.seq as number;
    expect(joinedAt).toBeLessThanOrEqual(1);
    again.ws.send(JSON.stringify({ type: 'token', data: 'after deletion' }));
    await expect.poll(async () => {
      const b = (await (await call(inspectPath(owner.namespace, alias), { headers: bearer(owner.credential) })).json()) as { head_seq: number };
      return b.head_seq;
    }, { timeout: 10_000 }).toBeGreaterThan(joinedAt);
    again.ws.close(1000, 'done');
    await again.closed;
  });

  it('does not let the old links into the new conversation', async () => {
    const owner = await newAccount('del-oldlinks');
    const alias = uniqueName('reborn');
    const first = await mint(owner, { alias });
    expect((await del(owner.namespace, alias, owner.credential)).status).toBe(200);
    const second = await mint(owner, { alias });
    await expectError(await call(inspectPath(owner.namespace, alias, tokenOf(first.magic_link))), 403, 'invalid_magic_link');
    await expectRejected(first.magic_link, 4001, 'invalid_magic_link', { credential: owner.credential });
    expect((await call(inspectPath(owner.namespace, alias, tokenOf(second.magic_link)))).status).toBe(200);
    const s = await join(second.magic_link, { credential: owner.credential });
    expect(s.joined.stream_id).toBe(second.stream_id);
    s.ws.close(1000, 'done');
    await s.closed;
  });
});
