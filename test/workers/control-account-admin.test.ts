/** Account administration: credential rotation, the conversation list, account deletion (decisions 0145–0147). */
import { describe, expect, it } from 'vitest';
import {
  ORIGIN, bearer, call, expectError, expectRejected, inspectPath, join, jsonCall, mint, newAccount, uniqueName, type Account, flipChar,
} from './control-helpers';
import { openSession } from './mcp-support';

interface Rotated {
  account_id: string;
  namespace: string;
  credential: string;
  credential_generation: number;
  connections_closed: number;
}

async function rotate(a: Account): Promise<Rotated> {
  const res = await call(`/v1/${a.namespace}/credentials`, { method: 'POST', headers: bearer(a.credential) });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Rotated;
}

const list = (a: Account, query = '', credential = a.credential) => call(`/v1/${a.namespace}/conversations${query}`, { headers: bearer(credential) });
const removeAccount = (ns: string, credential?: string) => call(`/v1/${ns}`, { method: 'DELETE', headers: credential ? bearer(credential) : {} });

describe('credential rotation', () => {
  it('answers a new credential once; the old one is refused at once and the new one works', async () => {
    const a = await newAccount('rot-cred');
    const r = await rotate(a);
    expect(r.account_id).toBe(a.account_id);
    expect(r.credential_generation).toBe(2);
    expect(r.credential).toMatch(new RegExp(`^ams_sk_${a.namespace}\\.`));
    expect(r.credential).not.toBe(a.credential);
    await expectError(await jsonCall('POST', `/v1/${a.namespace}/conversations`, {}, bearer(a.credential)), 401, 'invalid_credential');
    expect((await jsonCall('POST', `/v1/${a.namespace}/conversations`, {}, bearer(r.credential))).status).toBe(201);
    expect((await rotate({ ...a, credential: r.credential })).credential_generation).toBe(3);
  });

  it('refuses a wrong, old or missing credential with 401 and another namespace\'s with 403', async () => {
    const a = await newAccount('rot-bad');
    const other = await newAccount('rot-other');
    const r = await rotate(a);
    const path = `/v1/${a.namespace}/credentials`;
    await expectError(await call(path, { method: 'POST', headers: bearer(a.credential) }), 401, 'invalid_credential');
    await expectError(await call(path, { method: 'POST' }), 401, 'missing_credential');
    await expectError(await call(path, { method: 'POST', headers: bearer(flipChar(r.credential, r.credential.length - 1)) }), 401, 'invalid_credential');
    await expectError(await call(path, { method: 'POST', headers: bearer('not-a-credential') }), 401, 'invalid_credential');
    await expectError(await call(path, { method: 'POST', headers: bearer(other.credential) }), 403, 'namespace_mismatch');
    // Nothing changed: the current credential is still the one rotation gave.
    expect((await list({ ...a, credential: r.credential })).status).toBe(200);
  });

  it('closes the old credential\'s sockets, here and in other namespaces, with 4002 credential_revoked; read links stay', async () => {
    const a = await newAccount('rot-live');
    const host = await newAccount('rot-host');
    const own = await mint(a);
    const theirs = await mint(host);
    const writerHere = await join(own.magic_link, { credential: a.credential });
    const writerThere = await join(theirs.magic_link, { credential: a.credential });
    const hostWriter = await join(theirs.magic_link, { credential: host.credential });
    const observer = await join(own.observer_link);
    const r = await rotate(a);
    expect(r.connections_closed).toBe(2);
    expect(await writerHere.closed).toEqual({ code: 4002, reason: 'credential_revoked' });
    expect(await writerThere.closed).toEqual({ code: 4002, reason: 'credential_revoked' });
    // The others are untouched: the host's writer and the observer still hear the rotated account's new writer.
    const again = await join(own.magic_link, { credential: r.credential });
    again.ws.send(JSON.stringify({ type: 'token', data: 'after rotation' }));
    await expect.poll(() => observer.frames.some((f) => f.type === 'token' && f.data === 'after rotation')).toBe(true);
    const back = await join(theirs.magic_link, { credential: r.credential });
    hostWriter.ws.send(JSON.stringify({ type: 'token', data: 'host still here' }));
    await expect.poll(() => back.frames.some((f) => f.type === 'token' && f.data === 'host still here')).toBe(true);
    await expectRejected(own.magic_link, 4002, 'invalid_credential', { credential: a.credential });
    for (const s of [again, observer, hostWriter, back]) s.ws.close(1000);
  });

  it('ends an MCP session opened with the old credential, and resume keys issued under it', async () => {
    const a = await newAccount('rot-mcp');
    const m = await mint(a);
    const session = await openSession(`${ORIGIN}/mcp`, a.credential);
    const joined = await session.ok('ams_join', { magic_link: m.magic_link });
    const r = await rotate(a);
    const res = await session.post({ jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'ams_peers', arguments: {} } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe('credential_revoked');
    const fresh = await openSession(`${ORIGIN}/mcp`, r.credential);
    const resumed = await fresh.call('ams_join', { resume_key: joined.resume_key });
    expect(resumed.isError).toBe(true);
    expect(resumed.value.error).toBe('credential_revoked');
    // A key issued under the new credential works.
    const rejoined = await fresh.ok('ams_join', { magic_link: m.magic_link });
    const third = await openSession(`${ORIGIN}/mcp`, r.credential);
    expect((await third.ok('ams_join', { resume_key: rejoined.resume_key })).stream_id).toBe(rejoined.stream_id);
  });
});

describe('listing an account\'s conversations', () => {
  it('pages through what the account minted, with head, writers, listeners and last activity', async () => {
    const a = await newAccount('list');
    const minted = [await mint(a, { alias: 'c-one' }), await mint(a, { alias: 'c-two' }), await mint(a, { alias: 'c-three' })];
    const w = await join(minted[0].magic_link, { credential: a.credential });
    w.ws.send(JSON.stringify({ type: 'token', data: 'x', end: true }));
    const head = async () => ((await (await call(inspectPath(a.namespace, 'c-one'), { headers: bearer(a.credential) })).json()) as { head_seq: number }).head_seq;
    await expect.poll(head).toBeGreaterThan(0);
    const headSeq = await head();
    const first = await list(a, '?limit=2');
    expect(first.status).toBe(200);
    const page1 = (await first.json()) as { conversations: Record<string, unknown>[]; next_cursor: string | null };
    expect(page1.conversations.map((c) => c.alias)).toEqual(['c-one', 'c-three']);
    expect(page1.conversations[0]).toMatchObject({ conversation_id: minted[0].conversation_id, created_at: minted[0].created_at, head_seq: headSeq, writers: 1, listeners: 0 });
    expect(Date.parse(page1.conversations[0].last_activity as string)).toBeGreaterThanOrEqual(Date.parse(minted[0].created_at));
    expect(page1.next_cursor).toEqual(expect.any(String));
    const page2 = (await (await list(a, `?limit=2&cursor=${page1.next_cursor}`)).json()) as typeof page1;
    expect(page2.conversations.map((c) => c.alias)).toEqual(['c-two']);
    expect(page2.next_cursor).toBeNull();
    w.ws.close(1000);
  });

  it('drops a deleted conversation and refuses a cursor that is not one, a bad limit and a wrong credential', async () => {
    const a = await newAccount('list-bad');
    await mint(a, { alias: 'gone' });
    await mint(a, { alias: 'kept' });
    expect((await call(inspectPath(a.namespace, 'gone'), { method: 'DELETE', headers: bearer(a.credential) })).status).toBe(200);
    const body = (await (await list(a)).json()) as { conversations: { alias: string }[] };
    expect(body.conversations.map((c) => c.alias)).toEqual(['kept']);
    for (const cursor of ['%%%', 'bm90IGFuIGFsaWFzIQ', 'a2VwdA==']) await expectError(await list(a, `?cursor=${cursor}`), 400, 'invalid_page_cursor');
    for (const limit of ['0', '101', 'x', '1.5']) await expectError(await list(a, `?limit=${limit}`), 400, 'invalid_limit');
    await expectError(await list(a, '', flipChar(a.credential, a.credential.length - 1)), 401, 'invalid_credential');
  });
});

describe('deleting an account', () => {
  it('closes its conversations 4910, stops their links, refuses its credential, and answers 404 the second time', async () => {
    const a = await newAccount('acct-del');
    const peer = await newAccount('acct-del-peer');
    const m = await mint(a);
    const sockets = [await join(m.magic_link, { credential: a.credential }), await join(m.magic_link, { credential: peer.credential }), await join(m.observer_link)];
    await expectError(await removeAccount(a.namespace, flipChar(a.credential, a.credential.length - 1)), 401, 'invalid_credential');
    await expectError(await removeAccount(a.namespace), 401, 'missing_credential');
    const res = await removeAccount(a.namespace, a.credential);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deleted: true, account_id: a.account_id, namespace: a.namespace, conversations_deleted: 1 });
    for (const s of sockets) expect(await s.closed).toEqual({ code: 4910, reason: 'conversation_closed' });
    await expectRejected(m.magic_link, 4005, 'conversation_not_found', { credential: peer.credential });
    await expectRejected(m.observer_link, 4005, 'conversation_not_found');
    await expectError(await jsonCall('POST', `/v1/${a.namespace}/conversations`, {}, bearer(a.credential)), 401, 'invalid_credential');
    await expectError(await removeAccount(a.namespace, a.credential), 404, 'account_not_found');
    // The namespace stays taken (decision 0147).
    await expectError(await jsonCall('POST', '/v1/accounts', { namespace: a.namespace }), 409, 'namespace_taken');
  });

  it('ends the deleted account\'s sockets in other namespaces\' conversations', async () => {
    const a = await newAccount('acct-del-away');
    const host = await newAccount('acct-del-host');
    const theirs = await mint(host);
    const away = await join(theirs.magic_link, { credential: a.credential });
    expect((await removeAccount(a.namespace, a.credential)).status).toBe(200);
    expect(await away.closed).toEqual({ code: 4002, reason: 'credential_revoked' });
    expect((await call(inspectPath(host.namespace, theirs.alias), { headers: bearer(host.credential) })).status).toBe(200);
  });

  it('answers 401 for a namespace that never had an account', async () => {
    const ns = uniqueName('never');
    await expectError(await removeAccount(ns, `ams_sk_${ns}.${'A'.repeat(43)}`), 401, 'invalid_credential');
  });
});
