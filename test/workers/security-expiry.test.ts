/**
 * Issue 14, items 4 and 5: nothing outlives the link it descends from.
 * A link's expiry ends the resume_key, the sockets, the SSE tails and the MCP
 * memberships it admitted; a deleted conversation minted again (same derived
 * id, generation back to 1) never takes the old links or keys back.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { connect, createAccount, expectDocumentedError, mint, ORIGIN, routeOf, upgrade, Peer } from '../fuzz/workerd';
import { openSession } from './mcp-support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function linkWith(owner: { namespace: string; credential: string }, alias: string, body: object): Promise<string> {
  const res = await SELF.fetch(`${ORIGIN}/v1/${owner.namespace}/conversations/${alias}/links`, {
    method: 'POST', headers: { authorization: `Bearer ${owner.credential}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { link: string }).link;
}

/** Reads an SSE body until `done(text)` holds or `ms` pass; returns what it read. */
async function readSse(res: Response, done: (text: string) => boolean, ms: number): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + ms;
  while (!done(text) && Date.now() < deadline) {
    const next = await Promise.race([reader.read(), sleep(deadline - Date.now()).then(() => null)]);
    if (!next || next.done) break;
    text += decoder.decode(next.value, { stream: true });
  }
  await reader.cancel().catch(() => undefined);
  return text;
}

describe('a link that expires takes everything it admitted with it', () => {
  it('refuses its resume_key, closes its sockets and SSE tails with 4001, and ends its MCP membership', async () => {
    const owner = await createAccount('exp');
    const conv = await mint(owner);
    const writeLink = await linkWith(owner, conv.alias, { scope: 'write', expires_in: 2 });
    const readLink = await linkWith(owner, conv.alias, { scope: 'read', expires_in: 2 });

    const session = await openSession(`${ORIGIN}/mcp`);
    const joined = await session.ok('ams_join', { magic_link: writeLink });
    const writer = await connect(writeLink, { credential: owner.credential, query: { stream_name: 'sock' } });
    await writer.joined();
    const reader = await connect(readLink);
    await reader.joined();
    const tail = await SELF.fetch(routeOf(readLink, '/events'), { headers: { accept: 'text/event-stream' } });
    expect(tail.status).toBe(200);
    const tailText = readSse(tail, (t) => t.includes('event: close'), 8_000);
    expect((await session.call('ams_send', { data: 'before expiry' })).isError).toBe(false);

    await sleep(3_100);
    // The link itself is refused everywhere it is checked…
    expect(await expectDocumentedError(await SELF.fetch(routeOf(writeLink, '/history')))).toBe('invalid_magic_link');
    // …and so is everything that descends from it.
    const fresh = await openSession(`${ORIGIN}/mcp`);
    const resumed = await fresh.call('ams_send', { data: 'after expiry', resume_key: joined.resume_key });
    expect(resumed.isError).toBe(true);
    expect(resumed.value.error).toBe('invalid_magic_link');
    const again = await session.call('ams_send', { data: 'after expiry too' });
    expect(again.isError).toBe(true);
    expect(again.value.error).toBe('invalid_magic_link');
    // The alarm may have closed it already; if not, its next frame does.
    if (!writer.isClosed) try { writer.send({ type: 'token', data: 'after expiry' }); } catch { /* closed meanwhile */ }
    expect(await writer.closed).toEqual({ code: 4001, reason: 'invalid_magic_link' });
    expect(await reader.closed).toEqual({ code: 4001, reason: 'invalid_magic_link' });
    expect(await tailText).toContain('"code":4001');

    // Nothing after the expiry reached the log.
    const history = await SELF.fetch(routeOf(conv.observer_link, '/history'));
    const data = ((await history.json()) as { frames: Array<{ data?: string }> }).frames.map((f) => f.data).filter(Boolean);
    expect(data).toEqual(['before expiry']);
  }, 20_000);
});

describe('a conversation minted again at the same derived id', () => {
  it('does not take back links or resume keys of the deleted one', async () => {
    const owner = await createAccount('remint');
    const input = { purpose: 'remint', n: crypto.randomUUID() };
    const first = await mint(owner, { id_kind: 'jcs-sha256', id_input: input });
    const session = await openSession(`${ORIGIN}/mcp`);
    const joined = await session.ok('ams_join', { magic_link: first.magic_link });
    const oldKey = joined.resume_key as string;
    // Rotated away, then the conversation is deleted and minted again from the same input.
    const rotated = await SELF.fetch(`${ORIGIN}/v1/${owner.namespace}/conversations/${first.alias}/links/rotate`, { method: 'POST', headers: { authorization: `Bearer ${owner.credential}` } });
    expect(rotated.status).toBe(200);
    const del = await SELF.fetch(`${ORIGIN}/v1/${owner.namespace}/conversations/${first.alias}`, { method: 'DELETE', headers: { authorization: `Bearer ${owner.credential}` } });
    expect(del.status).toBe(200);
    const second = await mint(owner, { id_kind: 'jcs-sha256', id_input: input });
    expect(second.conversation_id).toBe(first.conversation_id);
    expect(second.alias).toBe(first.alias);

    expect(await expectDocumentedError(await SELF.fetch(routeOf(first.magic_link, '/history')))).toBe('invalid_magic_link');
    expect(await expectDocumentedError(await SELF.fetch(routeOf(first.observer_link, '/history')))).toBe('invalid_magic_link');
    const ws = await upgrade(routeOf(first.magic_link, '/connect'), { credential: owner.credential });
    expect(await new Peer(ws.webSocket!, null).closed).toEqual({ code: 4001, reason: 'invalid_magic_link' });
    const fresh = await openSession(`${ORIGIN}/mcp`);
    const resumed = await fresh.call('ams_send', { data: 'from the old key', resume_key: oldKey });
    expect(resumed.isError).toBe(true);
    expect(resumed.value.error).toBe('resume_key_mismatch');
    // The new links work.
    expect((await SELF.fetch(routeOf(second.magic_link, '/history'))).status).toBe(200);
  });
});
