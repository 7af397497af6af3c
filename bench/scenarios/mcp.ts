/**
 * The MCP path: agent A calls `ams_send`, agent B waits in `ams_recv`
 * (long-poll, wait_ms) on its own MCP session; timed from the start of A's
 * call to B's result holding the token. One token in flight. Both use the
 * official SDK client over Streamable HTTP on the magic link's `/mcp` path.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { linkRoute } from '../../src/client';
import { Samples, summarize, type LatencySummary } from '../lib/stats';
import type { AmsTarget } from '../targets/ams';

export interface McpResult {
  latency: LatencySummary;
}

type ToolResult = { structuredContent?: Record<string, unknown>; isError?: boolean; content?: unknown };

async function agent(url: string): Promise<{ client: Client; call: (name: string, args: object) => Promise<Record<string, unknown>> }> {
  const client = new Client({ name: 'ams-bench', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const call = async (name: string, args: object) => {
    const r = (await client.callTool({ name, arguments: args as Record<string, unknown> })) as ToolResult;
    if (r.isError || !r.structuredContent) throw new Error(`${name} failed: ${JSON.stringify(r.structuredContent ?? r.content)}`);
    return r.structuredContent;
  };
  return { client, call };
}

/** Returns undefined with a reason when the broker has no MCP endpoint (yet). */
export async function mcpAvailable(t: AmsTarget): Promise<string | undefined> {
  try {
    const conv = await t.mint();
    const a = await agent(linkRoute(conv.magic_link, 'mcp'));
    const { tools } = await a.client.listTools();
    await a.client.close();
    const names = new Set(tools.map((x) => x.name));
    const missing = ['ams_join', 'ams_send', 'ams_recv'].filter((n) => !names.has(n));
    return missing.length ? `the MCP endpoint lacks ${missing.join(', ')}` : undefined;
  } catch (err) {
    return `no working MCP endpoint: ${(err as Error).message.split('\n')[0]}`;
  }
}

export async function mcpHop(t: AmsTarget, tokens: number, warmup: number): Promise<McpResult> {
  const conv = await t.mint();
  const url = linkRoute(conv.magic_link, 'mcp');
  const a = await agent(url);
  const b = await agent(url);
  try {
    await a.call('ams_join', {});
    const joined = await b.call('ams_join', {});
    let since = Number(joined.seq);
    const samples = new Samples();
    for (let i = 0; i < warmup + tokens; i++) {
      const data = `mcp-${i}`;
      const started = performance.now();
      const recv = b.call('ams_recv', { since, wait_ms: 10_000, format: 'frames' });
      // The send starts while B already waits; B's long-poll is in flight or queued behind it.
      const sent = await a.call('ams_send', { data });
      let got: Record<string, unknown> = await recv;
      let frames = got.frames as { type: string; data?: string; seq: number }[];
      // stream_joined of A may come first on the first round.
      while (!frames.some((f) => f.type === 'token')) {
        since = Number(got.next_since);
        got = await b.call('ams_recv', { since, wait_ms: 10_000, format: 'frames' });
        frames = got.frames as typeof frames;
      }
      const done = performance.now();
      const tokensSeen = frames.filter((f) => f.type === 'token');
      if (tokensSeen.length !== 1 || tokensSeen[0].data !== data || tokensSeen[0].seq !== sent.seq) {
        throw new Error(`MCP round ${i}: expected token ${data} at seq ${sent.seq}, got ${JSON.stringify(tokensSeen)}`);
      }
      since = Number(got.next_since);
      if (i >= warmup) samples.push(done - started);
    }
    return { latency: summarize(samples.view()) };
  } finally {
    await a.client.close();
    await b.client.close();
  }
}
