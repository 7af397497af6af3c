/** The official MCP SDK client, wrapped for the end-to-end tests: call a tool, get its structured result. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export interface Note {
  method: string;
  params?: Record<string, unknown>;
}

export interface ToolOutcome {
  isError: boolean;
  value: Record<string, any>;
  text: string;
}

export interface McpAgent {
  client: Client;
  transport: StreamableHTTPClientTransport;
  notes: Note[];
  call(name: string, args?: Record<string, unknown>): Promise<ToolOutcome>;
  /** Calls a tool that must succeed and returns its structured result. */
  ok(name: string, args?: Record<string, unknown>): Promise<Record<string, any>>;
  /** Resolves with the first notification (seen or to come) matching `match`. */
  note(match: (n: Note) => boolean, timeoutMs?: number): Promise<Note>;
  close(): Promise<void>;
}

export async function mcpAgent(url: string, opts: { credential?: string } = {}): Promise<McpAgent> {
  const headers: Record<string, string> = opts.credential ? { authorization: `Bearer ${opts.credential}` } : {};
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'ams-e2e', version: '1.0.0' });
  const notes: Note[] = [];
  const waiters = new Set<() => void>();
  client.fallbackNotificationHandler = async (n) => {
    notes.push(n as Note);
    for (const w of [...waiters]) w();
  };
  client.onerror = () => {};
  await client.connect(transport);
  const call = async (name: string, args: Record<string, unknown> = {}): Promise<ToolOutcome> => {
    const r = await client.callTool({ name, arguments: args });
    const text = (r.content as { type: string; text: string }[])[0]?.text ?? '';
    return { isError: r.isError === true, value: (r.structuredContent ?? {}) as Record<string, any>, text };
  };
  return {
    client,
    transport,
    notes,
    call,
    async ok(name, args) {
      const r = await call(name, args);
      if (r.isError) throw new Error(`${name} failed: ${r.text}`);
      return r.value;
    },
    note(match, timeoutMs = 10_000) {
      const seen = notes.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching notification within ${timeoutMs} ms; got ${JSON.stringify(notes.map((n) => n.method))}`));
        }, timeoutMs);
        const check = () => {
          const n = notes.find(match);
          if (n) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(n);
          }
        };
        waiters.add(check);
      });
    },
    async close() {
      await client.close();
    },
  };
}

/** Reads ams_recv until `n` token frames arrived (each call long-polls), following next_since. */
export async function recvTokens(agent: McpAgent, n: number, args: Record<string, unknown> = {}): Promise<Record<string, any>[]> {
  const tokens: Record<string, any>[] = [];
  let since: number | undefined = args.since as number | undefined;
  for (let calls = 0; tokens.length < n; calls++) {
    if (calls > 20) throw new Error(`only ${tokens.length} of ${n} tokens after ${calls} ams_recv calls`);
    const r = await agent.ok('ams_recv', { format: 'frames', ...args, ...(since !== undefined ? { since } : {}), wait_ms: 10_000 });
    tokens.push(...r.frames.filter((f: { type: string }) => f.type === 'token'));
    since = r.next_since;
  }
  return tokens;
}
