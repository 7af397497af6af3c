/**
 * The accounts' presence index (decisions 0145, 0170): kept on admit and on
 * leave, with notes ordered by the conversation's own sequence, so a late
 * leave never hides a hold admitted after it.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/control/env';
import { bearer, call, join, mint, newAccount, type Account } from './control-helpers';
import { openSession } from './mcp-support';

const bindings = env as unknown as Env;
const account = (a: Account) => bindings.ACCOUNTS.get(bindings.ACCOUNTS.idFromName(a.namespace));
const places = async (a: Account) => (await account(a).presencePlaces()).map((p) => `${p.ns}/${p.alias}`);

/** An account `a` that will act as a guest in a conversation `theirs` of another account, `host`. */
async function guestOf(prefix: string) {
  const [a, host] = [await newAccount(`${prefix}-guest`), await newAccount(`${prefix}-host`)];
  return { a, host, theirs: await mint(host) };
}

describe('the presence index', () => {
  it('gains a conversation when the credential\'s socket is admitted and loses it when its last socket there leaves', async () => {
    const { a, host, theirs } = await guestOf('pres-ws');
    const here = `${host.namespace}/${theirs.alias}`;
    const first = await join(theirs.magic_link, { credential: a.credential });
    const second = await join(theirs.magic_link, { credential: a.credential });
    expect(await places(a)).toEqual([here]);
    first.ws.close(1000);
    await first.closed;
    // One socket still holds: the conversation stays (checked after the second one's close is handled, below).
    second.ws.send(JSON.stringify({ type: 'ping' }));
    await expect.poll(() => second.frames.some((f) => f.type === 'pong')).toBe(true);
    expect(await places(a)).toEqual([here]);
    second.ws.close(1000);
    await second.closed;
    await expect.poll(() => places(a)).toEqual([]);
    // The host's own socket never entered the guest's index, and leaving changed nothing of the host's.
    expect(await places(host)).toEqual([]);
  });

  it('keeps a conversation while an MCP membership of the account holds there, and drops it when that one leaves', async () => {
    const a = await newAccount('pres-mcp');
    const own = await mint(a);
    const here = `${a.namespace}/${own.alias}`;
    const m = await openSession(own.magic_link, a.credential);
    await m.ok('ams_join', { stream_name: 'mcp-side' });
    const ws = await join(own.magic_link, { credential: a.credential });
    ws.ws.close(1000);
    await ws.closed;
    const probe = await join(own.observer_link);
    probe.ws.close(1000);
    await probe.closed;
    expect(await places(a)).toEqual([here]);
    await m.ok('ams_leave', {});
    await expect.poll(() => places(a)).toEqual([]);
  });

  it('notes an MCP membership acting as the account, in another namespace, and forgets it when the membership leaves', async () => {
    const { a, host, theirs } = await guestOf('pres-mcp-only');
    const m = await openSession(theirs.magic_link, a.credential);
    expect((await m.ok('ams_join', { stream_name: 'guest' })).account_id).toBe(a.account_id);
    expect(await places(a)).toEqual([`${host.namespace}/${theirs.alias}`]);
    await m.ok('ams_leave', {});
    await expect.poll(() => places(a)).toEqual([]);
  });

  it('at its alarm, a conversation releases a noted account whose holds ended without a leave (memberships collected, links expired)', async () => {
    const { a, host, theirs } = await guestOf('pres-sweep');
    const at = { ns: host.namespace, alias: theirs.alias };
    // As if a membership of `a` had been noted here and since forgotten: noted on both sides, no hold left.
    expect(await account(a).presenceEntered(at, 1, 1)).toBe(true);
    const conversation = bindings.CONVERSATIONS.get(bindings.CONVERSATIONS.idFromName(`${at.ns}/${at.alias}`));
    await runInDurableObject(conversation, async (_obj, state) => {
      state.storage.sql.exec('INSERT INTO presence_holders (account_id, ns, generation) VALUES (?, ?, 1)', a.account_id, a.namespace);
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await places(a)).toEqual([`${at.ns}/${at.alias}`]);
    expect(await runDurableObjectAlarm(conversation)).toBe(true);
    await expect.poll(() => places(a)).toEqual([]);
  });

  it('drops a deleted conversation from the index of every account that held a socket there', async () => {
    const { a, host, theirs } = await guestOf('pres-del');
    const guest = await join(theirs.magic_link, { credential: a.credential });
    expect(await places(a)).toHaveLength(1);
    expect((await call(`/v1/${host.namespace}/conversations/${theirs.alias}`, { method: 'DELETE', headers: bearer(host.credential) })).status).toBe(200);
    expect((await guest.closed).code).toBe(4910);
    await expect.poll(() => places(a)).toEqual([]);
  });

  it('orders one conversation\'s notes by their sequence: a leave that arrives after a later enter changes nothing', async () => {
    const a = await newAccount('pres-order');
    const stub = account(a);
    const at = { ns: 'elsewhere', alias: 'room-1' };
    const generation = 1;
    expect(await stub.presenceEntered(at, 20, generation)).toBe(true);
    await stub.presenceLeft(at, 10);
    expect(await places(a)).toEqual(['elsewhere/room-1']);
    await stub.presenceLeft(at, 21);
    expect(await places(a)).toEqual([]);
    // A row a credential check wrote (seq 0) goes with any leave; the conversation re-enters what it admits after.
    await stub.verify('not-the-hash', at);
    expect(await places(a)).toEqual([]);
  });

  it('closes a socket 4002 when its enter finds the credential rotated (a rotation that the pruned index hid from this conversation)', async () => {
    const { a, theirs, host } = await guestOf('pres-stale');
    const guest = await join(theirs.magic_link, { credential: a.credential });
    await expect.poll(() => places(a)).toEqual([`${host.namespace}/${theirs.alias}`]);
    // A rotation lands while the index does not list this conversation (its leave and the socket's enter crossed): no revoke reaches it.
    await runInDurableObject(account(a), (_obj, state) => {
      state.storage.sql.exec('UPDATE account SET credential_generation = credential_generation + 1');
      state.storage.sql.exec('DELETE FROM presence');
    });
    // The socket's own enter note (re-sent here, as after the crossing) learns of it and ends the socket.
    const conversation = bindings.CONVERSATIONS.get(bindings.CONVERSATIONS.idFromName(`${host.namespace}/${theirs.alias}`));
    await runInDurableObject(conversation, (obj, state) => {
      state.storage.sql.exec('DELETE FROM presence_holders');
      (obj as unknown as { presence: { held(h: { account_id: string; namespace: string; credential_generation: number }): void } })
        .presence.held({ account_id: a.account_id, namespace: a.namespace, credential_generation: 1 });
    });
    expect(await guest.closed).toEqual({ code: 4002, reason: 'credential_revoked' });
  });

  it('answers an enter under a generation that is not the credential\'s with false, and records nothing', async () => {
    const a = await newAccount('pres-gen');
    const stub = account(a);
    expect(await stub.presenceEntered({ ns: 'x', alias: 'y' }, 5, 2)).toBe(false);
    expect(await places(a)).toEqual([]);
  });
});
