/** `GET /v1/{ns}/conversations/{alias}`: who may inspect, what it reports, and its errors. */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bearer, call, expectError, flipChar, inspectPath, join, mint, newAccount, tokenOf, uniqueName, type Account, type Minted,
} from './control-helpers';

let owner: Account;
let stranger: Account;
let conv: Minted;
beforeAll(async () => {
  owner = await newAccount('insp');
  stranger = await newAccount('insp-other');
  conv = await mint(owner, {
    stream_name: 'minter', metadata: { topic: 'inspect' }, stream_metadata: { role: 'host' }, history: { max_frames: 42, max_age_s: 600 },
  });
});

interface Inspected {
  conversation_id: string;
  namespace: string;
  alias: string;
  id_kind: string;
  metadata: Record<string, unknown>;
  created_at: string;
  streams: { stream_id: string; stream_name: string; owner_account_id: string; metadata: Record<string, unknown>; connected: boolean }[];
  head_seq: number;
  epoch: string;
  history: { max_frames: number; max_age_s: number };
}

async function inspectWith(init: { credential?: string; t?: string }, alias = conv.alias, ns = owner.namespace): Promise<Response> {
  return call(inspectPath(ns, alias, init.t), { headers: init.credential ? bearer(init.credential) : {} });
}

describe('inspect reports the conversation', () => {
  it('reports every documented field, with the minter stream registered and not connected', async () => {
    const res = await inspectWith({ credential: owner.credential });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Inspected;
    expect(body).toMatchObject({
      conversation_id: conv.conversation_id,
      namespace: owner.namespace,
      alias: conv.alias,
      id_kind: 'ulid',
      metadata: { topic: 'inspect' },
      created_at: conv.created_at,
      head_seq: 0,
    });
    expect(typeof body.epoch).toBe('string');
    expect(body.epoch.length).toBeGreaterThan(0);
    expect(body.streams).toEqual([
      { stream_id: conv.stream_id, stream_name: 'minter', owner_account_id: owner.account_id, metadata: { role: 'host' }, identity: { kind: 'agent' }, connected: false },
    ]);
  });

  it('reports the history settings given at mint', async () => {
    const body = (await (await inspectWith({ credential: owner.credential })).json()) as Inspected;
    expect(body.history).toMatchObject({ max_frames: 42, max_age_s: 600 });
  });

  it('reports the default history settings when none were given', async () => {
    const plain = await mint(owner);
    const body = (await (await inspectWith({ credential: owner.credential }, plain.alias)).json()) as Inspected;
    expect(body.history).toMatchObject({ max_frames: 10_000, max_age_s: 86_400 });
  });

  it('reports a stream as connected while its owner holds a socket', async () => {
    const c = await mint(owner, { stream_name: 'live' });
    const s = await join(c.magic_link, { credential: owner.credential });
    const body = (await (await inspectWith({ credential: owner.credential }, c.alias)).json()) as Inspected;
    expect(body.streams).toMatchObject([{ stream_id: c.stream_id, connected: true }]);
    s.ws.close(1000, 'done');
    await s.closed;
  });
});

describe('who may inspect', () => {
  it('lets the bearer of any account inspect, not only the owner', async () => {
    const res = await inspectWith({ credential: stranger.credential });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Inspected).conversation_id).toBe(conv.conversation_id);
  });

  it('lets the t= of the write magic link inspect without a credential', async () => {
    const res = await inspectWith({ t: tokenOf(conv.magic_link) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Inspected).conversation_id).toBe(conv.conversation_id);
  });

  it('uses the t= when the Authorization header is of another scheme (Basic auth from a proxy)', async () => {
    const res = await call(inspectPath(owner.namespace, conv.alias, tokenOf(conv.observer_link)), { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(res.status).toBe(200);
  });

  it('lets the t= of the observer link inspect without a credential', async () => {
    const res = await inspectWith({ t: tokenOf(conv.observer_link) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Inspected).alias).toBe(conv.alias);
  });

  it('answers 401 missing_credential with neither a bearer nor a token', async () => {
    await expectError(await inspectWith({}), 401, 'missing_credential');
  });

  it('answers 401 missing_credential for an empty t=', async () => {
    await expectError(await call(`${inspectPath(owner.namespace, conv.alias)}?t=`), 401, 'missing_credential');
  });

  it('answers 401 invalid_credential for a bad bearer, even with a valid token', async () => {
    await expectError(await inspectWith({ credential: 'ams_sk_bogus' }), 401, 'invalid_credential');
    await expectError(await inspectWith({ credential: flipChar(owner.credential, owner.credential.length - 3), t: tokenOf(conv.magic_link) }), 401, 'invalid_credential');
  });

  it('answers 403 invalid_magic_link for a tampered token', async () => {
    const t = tokenOf(conv.magic_link);
    await expectError(await inspectWith({ t: flipChar(t, t.length - 2) }), 403, 'invalid_magic_link');
    await expectError(await inspectWith({ t: 'garbage' }), 403, 'invalid_magic_link');
  });

  it('answers 403 invalid_magic_link for the token of another conversation', async () => {
    const otherConv = await mint(owner);
    await expectError(await inspectWith({ t: tokenOf(otherConv.magic_link) }), 403, 'invalid_magic_link');
  });
});

describe('inspecting what does not exist', () => {
  it('answers 404 conversation_not_found for an unknown alias, by bearer', async () => {
    await expectError(await inspectWith({ credential: owner.credential }, uniqueName('nowhere')), 404, 'conversation_not_found');
  });

  it('answers 404 conversation_not_found for an unknown namespace, by bearer', async () => {
    await expectError(await inspectWith({ credential: owner.credential }, conv.alias, uniqueName('nons')), 404, 'conversation_not_found');
  });

  it('answers 404 conversation_not_found for a malformed alias, never a 500', async () => {
    await expectError(await inspectWith({ credential: owner.credential }, 'Not_An_Alias'), 404, 'conversation_not_found');
  });

  it('answers 404 conversation_not_found for an unknown alias presented with a token', async () => {
    await expectError(await inspectWith({ t: tokenOf(conv.magic_link) }, uniqueName('nowhere')), 404, 'conversation_not_found');
  });
});
