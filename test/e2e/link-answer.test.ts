/**
 * A conversation with a purpose, end to end on a real `wrangler dev`: the
 * `claude mcp add` line that `curl "$LINK"` prints connects an official MCP
 * SDK client to that very URL, whose `initialize` and `ams_join` carry the
 * instructions and a recap; the owner's PATCH is heard by the joined agent and
 * by `curl -N …/transcript`; `?last=N` starts with the last N utterances; and
 * the join lines the pages import from /app/protocol.js run in the bundle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmsClient, type Account, type Minted } from '../../src/client';
import { mcpAgent, type McpAgent } from './mcp-client';
import { streamedLines, uniqueNs, type StreamedLines, sharedBroker } from './support';

const { broker } = sharedBroker();
let api: AmsClient;
let owner: Account;
const closers: Array<() => unknown> = [];

beforeAll(async () => {
  api = new AmsClient(broker.url);
  owner = await api.createAccount(uniqueNs('lnk'));
});
afterAll(async () => {
  for (const c of closers) await Promise.resolve(c()).catch(() => {});
});

async function agent(url: string): Promise<McpAgent> {
  const a = await mcpAgent(url);
  closers.push(() => a.close());
  return a;
}

function patch(alias: string, instructions: string): Promise<Response> {
  return fetch(`${broker.url}/v1/${owner.namespace}/conversations/${alias}`, {
    method: 'PATCH', headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.credential}` }, body: JSON.stringify({ instructions }),
  });
}

/** Reads a streamed text body line by line; the reader is cancelled after the file. */
function lines(res: Response): StreamedLines {
  const t = streamedLines(res);
  closers.push(t.stop);
  return t;
}

describe('the link explains itself (wrangler dev)', () => {
  it('curl prints markdown whose claude mcp add line connects a real MCP client, and the instructions reach it', async () => {
    const conv: Minted = await api.createConversation(owner, { instructions: 'Decide the release date.\nOne message each.' });
    const speaker = await agent(conv.magic_link);
    await speaker.ok('ams_join', { stream_name: 'planner' });
    for (const d of ['Monday?', 'Tuesday works.', 'Tuesday then.']) await speaker.ok('ams_send', { data: d });

    const res = await fetch(conv.magic_link, { headers: { accept: '*/*', 'user-agent': 'curl/8.5.0' } });
    expect(res.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    const md = await res.text();
    expect(md).toContain('> Decide the release date.\n> One message each.');
    const line = md.split('\n').find((l) => l.startsWith('claude mcp add '))!;
    const url = /^claude mcp add --transport http ams '([^']+)'$/.exec(line)![1]!;
    expect(url).toBe(conv.magic_link);

    const late = await agent(url);
    expect(late.client.getInstructions()).toContain('> Decide the release date.');
    const joined = await late.ok('ams_join', { recap: 2 });
    expect(joined.instructions).toBe('Decide the release date.\nOne message each.');
    expect(joined.recap.map((m: { text: string }) => m.text)).toEqual(['Tuesday works.', 'Tuesday then.']);

    expect((await patch(conv.alias, 'Decided: Tuesday. Now write the notes.')).status).toBe(200);
    const heard = await late.call('ams_recv', { wait_ms: 10_000 });
    expect(heard.text).toContain("(the conversation's instructions changed; the owner's words follow): Decided: Tuesday. Now write the notes.");
  });

  it('GET …/transcript?last=N starts with the last N utterances, and tells a change of instructions', async () => {
    const conv: Minted = await api.createConversation(owner);
    const speaker = await agent(conv.magic_link);
    await speaker.ok('ams_join', { stream_name: 'counter' });
    for (let i = 1; i <= 5; i++) await speaker.ok('ams_send', { data: `count ${i}` });
    const u = new URL(conv.observer_link);
    const tail = lines(await fetch(`${u.origin}${u.pathname}/transcript${u.search}&last=2`));
    expect(await tail.until(2)).toEqual(['counter: count 4', 'counter: count 5']);
    expect((await patch(conv.alias, 'Count to ten.')).status).toBe(200);
    await tail.until(3);
    expect(tail.got[2]).toBe("-- instructions (the owner's words): Count to ten.");
    const bad = await fetch(`${u.origin}${u.pathname}/transcript${u.search}&last=x`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_limit' });
  });

  it('the pages\' join lines come from the bundle\'s protocol module and match the markdown\'s', async () => {
    const conv: Minted = await api.createConversation(owner);
    const source = await (await fetch(`${broker.url}/app/protocol.js`)).text();
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(source).toString('base64')}`)) as { joinLines(link: string, scope: string): Array<{ text: string }> };
    const md = await (await fetch(conv.magic_link)).text();
    for (const l of mod.joinLines(conv.magic_link, 'write')) expect(md).toContain(l.text);
  });
});
