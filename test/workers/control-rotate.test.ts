/** `POST …/links/rotate`: every older link stops working, and sockets admitted with one are closed 4001. */
import { describe, expect, it } from 'vitest';
import {
  bearer, call, expectError, expectRejected, inspectPath, join, jsonCall, mint, newAccount, tokenOf, uniqueName, type Account, type Minted,
} from './control-helpers';

interface Rotated {
  generation: number;
  magic_link: string;
  observer_link: string;
}

async function rotate(owner: Account, m: Minted): Promise<Rotated> {
  const res = await jsonCall('POST', `${inspectPath(owner.namespace, m.alias)}/links/rotate`, undefined, bearer(owner.credential));
  expect(res.status).toBe(200);
  return (await res.json()) as Rotated;
}

const inspectStatus = async (owner: Account, m: Minted, link: string) => (await call(inspectPath(owner.namespace, m.alias, tokenOf(link)))).status;

describe('rotation revokes older links', () => {
  it('answers with the next generation and fresh write and read links', async () => {
    const owner = await newAccount('rot');
    const m = await mint(owner);
    const r = await rotate(owner, m);
    expect(r.generation).toBe(2);
    expect(r.magic_link.startsWith(`https://ams.test/${owner.namespace}/conversations/${m.alias}?t=`)).toBe(true);
    expect(r.magic_link).not.toBe(m.magic_link);
    expect(r.observer_link).not.toBe(m.observer_link);
    expect((await rotate(owner, m)).generation).toBe(3);
  });

  it('rejects the old magic_link and observer_link on inspect, and accepts the new ones', async () => {
    const owner = await newAccount('rot-insp');
    const m = await mint(owner);
    const r = await rotate(owner, m);
    await expectError(await call(inspectPath(owner.namespace, m.alias, tokenOf(m.magic_link))), 403, 'invalid_magic_link');
    await expectError(await call(inspectPath(owner.namespace, m.alias, tokenOf(m.observer_link))), 403, 'invalid_magic_link');
    expect(await inspectStatus(owner, m, r.magic_link)).toBe(200);
    expect(await inspectStatus(owner, m, r.observer_link)).toBe(200);
  });

  it('closes a connect with an old link 4001 invalid_magic_link, and admits the new ones', async () => {
    const owner = await newAccount('rot-ws');
    const m = await mint(owner);
    const r = await rotate(owner, m);
    await expectRejected(m.magic_link, 4001, 'invalid_magic_link', { credential: owner.credential });
    await expectRejected(m.observer_link, 4001, 'invalid_magic_link');
    const writer = await join(r.magic_link, { credential: owner.credential });
    expect(writer.joined.stream_id).toBe(m.stream_id);
    const observer = await join(r.observer_link);
    expect(observer.joined.stream_id).toBeNull();
    for (const s of [writer, observer]) s.ws.close(1000, 'done');
    await Promise.all([writer.closed, observer.closed]);
  });

  it('revokes extra links minted before the rotation, expiring or not', async () => {
    const owner = await newAccount('rot-extra');
    const m = await mint(owner);
    const minted: string[] = [];
    for (const body of [{ scope: 'read' }, { scope: 'write', expires_in: 3600 }]) {
      const res = await jsonCall('POST', `${inspectPath(owner.namespace, m.alias)}/links`, body, bearer(owner.credential));
      minted.push(((await res.json()) as { link: string }).link);
    }
    await rotate(owner, m);
    for (const link of minted) expect(await inspectStatus(owner, m, link)).toBe(403);
    const res = await jsonCall('POST', `${inspectPath(owner.namespace, m.alias)}/links`, { scope: 'read' }, bearer(owner.credential));
    const fresh = (await res.json()) as { link: string; generation: number };
    expect(fresh.generation).toBe(2);
    expect(await inspectStatus(owner, m, fresh.link)).toBe(200);
  });
});

describe('rotation closes live sockets admitted with older links', () => {
  it('closes a writer, a peer and an observer admitted with the old links with 4001 invalid_magic_link', async () => {
    const owner = await newAccount('rot-live');
    const peer = await newAccount('rot-peer');
    const m = await mint(owner);
    const sockets = [
      await join(m.magic_link, { credential: owner.credential }),
      await join(m.magic_link, { credential: peer.credential }),
      await join(m.observer_link),
    ];
    await rotate(owner, m);
    for (const s of sockets) expect(await s.closed).toEqual({ code: 4001, reason: 'invalid_magic_link' });
  });

  it('leaves a socket admitted with the new link open, until the next rotation', async () => {
    const owner = await newAccount('rot-keep');
    const m = await mint(owner);
    const old = await join(m.observer_link);
    const r = await rotate(owner, m);
    expect(await old.closed).toEqual({ code: 4001, reason: 'invalid_magic_link' });
    const current = await join(r.observer_link);
    current.ws.send(JSON.stringify({ type: 'ping' }));
    await expect.poll(() => current.frames.some((f) => f.type === 'pong'), { timeout: 10_000 }).toBe(true);
    await rotate(owner, m);
    expect(await current.closed).toEqual({ code: 4001, reason: 'invalid_magic_link' });
  });

  it('reports the rotated-away streams as disconnected', async () => {
    const owner = await newAccount('rot-state');
    const m = await mint(owner);
    const writer = await join(m.magic_link, { credential: owner.credential });
    await rotate(owner, m);
    await writer.closed;
    const body = (await (await call(inspectPath(owner.namespace, m.alias), { headers: bearer(owner.credential) })).json()) as {
      streams: { stream_id: string; connected: boolean }[];
    };
    expect(body.streams).toEqual([expect.objectContaining({ stream_id: m.stream_id, connected: false })]);
  });
});

describe('who may rotate', () => {
  it('needs the owner: 401 without a credential, 403 namespace_mismatch for another account, and the links keep working', async () => {
    const owner = await newAccount('rot-auth');
    const other = await newAccount('rot-auth-x');
    const m = await mint(owner);
    const path = `${inspectPath(owner.namespace, m.alias)}/links/rotate`;
    await expectError(await call(path, { method: 'POST' }), 401, 'missing_credential');
    await expectError(await call(path, { method: 'POST', headers: bearer(other.credential) }), 403, 'namespace_mismatch');
    expect(await inspectStatus(owner, m, m.magic_link)).toBe(200);
  });

  it('answers 404 conversation_not_found for an unknown alias', async () => {
    const owner = await newAccount('rot-404');
    await expectError(await call(`${inspectPath(owner.namespace, uniqueName('none'))}/links/rotate`, { method: 'POST', headers: bearer(owner.credential) }), 404, 'conversation_not_found');
  });
});
