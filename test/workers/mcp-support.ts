/** A raw Streamable HTTP MCP client over SELF.fetch, for tests inside workerd. */
import { SELF } from 'cloudflare:test';

export interface RpcMessage {
  jsonrpc: '2.0';
  id?: number;
  method?: string;
  params?: Record<string, any>;
  result?: Record<string, any>;
  error?: { code: number; message: string };
}

export interface ToolCall {
  isError: boolean;
  value: Record<string, any>;
  /** The text content: what a model reads. */
  text: string;
  /** Notifications that rode along on the response. */
  notes: RpcMessage[];
}

export interface RawSession {
  id: string;
  url: string;
  call(name: string, args?: Record<string, unknown>): Promise<ToolCall>;
  ok(name: string, args?: Record<string, unknown>): Promise<Record<string, any>>;
  post(body: unknown): Promise<Response>;
  /** `extra`: more headers (Last-Event-ID). */
  get(extra?: Record<string, string>): Promise<Response>;
  del(): Promise<Response>;
}

const ACCEPT = 'application/json, text/event-stream';
let nextId = 1;

/** The JSON-RPC messages of an SSE text; a priming event (empty data) carries none. */
export function sseMessages(text: string): RpcMessage[] {
  return text.split('\n').filter((l) => l.startsWith('data: ') && l.length > 6).map((l) => JSON.parse(l.slice(6)));
}

/** `version`: the protocol revision the session speaks (2025-11-25 streams open with a priming event); `clientInfo`: what the client says it is. */
export async function openSession(url: string, credential?: string, version = '2025-06-18', clientInfo: { name: string; version?: string } = { name: 'workers-test', version: '1' }): Promise<RawSession> {
  const auth: Record<string, string> = credential ? { authorization: `Bearer ${credential}` } : {};
  const init = await SELF.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT, ...auth },
    body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo } }),
  });
  if (init.status !== 200) throw new Error(`initialize: ${init.status} ${await init.text()}`);
  const id = init.headers.get('mcp-session-id')!;
  await init.text();
  const headers = { 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': id, 'mcp-protocol-version': version, ...auth };
  const post = (body: unknown) => SELF.fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const call = async (name: string, args: Record<string, unknown> = {}): Promise<ToolCall> => {
    const res = await post({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } });
    const messages = sseMessages(await res.text());
    const result = messages.find((m) => m.result !== undefined);
    if (!result) throw new Error(`${name}: no result in ${JSON.stringify(messages)}`);
    return {
      isError: result.result!.isError === true, value: result.result!.structuredContent, text: result.result!.content?.[0]?.text ?? '',
      notes: messages.filter((m) => m.method !== undefined),
    };
  };
  return {
    id,
    url,
    call,
    async ok(name, args) {
      const r = await call(name, args);
      if (r.isError) throw new Error(`${name} failed: ${JSON.stringify(r.value)}`);
      return r.value;
    },
    post,
    get: (extra: Record<string, string> = {}) => SELF.fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': id, 'mcp-protocol-version': version, ...auth, ...extra } }),
    del: () => SELF.fetch(url, { method: 'DELETE', headers }),
  };
}

/** Reads an SSE response body until a JSON-RPC message matching `match` arrives. */
export async function readUntil(res: Response, match: (m: RpcMessage) => boolean, timeoutMs = 5_000): Promise<RpcMessage> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms: ${buffer.slice(-500)}`);
      const chunk = await Promise.race([reader.read(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no matching message within ${timeoutMs} ms: ${buffer.slice(-500)}`)), left))]);
      if (chunk.done) throw new Error(`stream ended before a matching message: ${buffer.slice(-500)}`);
      buffer += decoder.decode(chunk.value, { stream: true });
      const found = sseMessages(buffer).find(match);
      if (found) return found;
    }
  } finally {
    reader.releaseLock();
  }
}
