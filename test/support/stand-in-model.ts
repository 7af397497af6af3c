/**
 * A stand-in for the Anthropic Messages API, so a real Claude Code can run a
 * whole turn without an account: point `ANTHROPIC_BASE_URL` at it. It answers
 * `POST /v1/messages` (streamed as SSE when the request asks, plain JSON
 * otherwise) with what a script says — a `tool_use` block or text — and
 * records every request, so a test can read exactly what the model was shown:
 * the tools it was offered, the system prompt, and each `tool_result`.
 *
 * Claude Code also sends side requests without tools (titles, summaries);
 * the script sees them too and normally answers them with plain text.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  body: any;
  at: number;
}

export type Reply = { text: string } | { tool: string; input: Record<string, unknown> };

/** Decides the answer to one `POST /v1/messages`. `main` is true when the request offers tools. */
export type Script = (body: any, main: boolean) => Reply;

export interface ToolExchange {
  name: string;
  input: unknown;
  /** The text the model reads: the tool_result's text blocks joined (or its string content). */
  text: string;
  bytes: number;
  is_error: boolean;
}

export interface StandInModel {
  url: string;
  requests: RecordedRequest[];
  /** The requests that offered tools (the turn itself, not side requests). */
  mainRequests(): RecordedRequest[];
  /** Every tool call of the turn with what came back, from the last main request's history. */
  exchanges(): ToolExchange[];
  close(): Promise<void>;
}

let ids = 0;
const nextId = (p: string) => `${p}_standin${(++ids).toString(36).padStart(6, '0')}`;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((res, rej) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (data += c));
    req.on('end', () => res(data));
    req.on('error', rej);
  });
}

function contentBlock(reply: Reply): Record<string, unknown> {
  return 'tool' in reply ? { type: 'tool_use', id: nextId('toolu'), name: reply.tool, input: reply.input } : { type: 'text', text: reply.text };
}

function messageOf(body: any, reply: Reply) {
  return {
    id: nextId('msg'),
    type: 'message',
    role: 'assistant',
    model: typeof body?.model === 'string' ? body.model : 'stand-in',
    content: [contentBlock(reply)],
    stop_reason: 'tool' in reply ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}

function sendSse(res: ServerResponse, body: any, reply: Reply): void {
  const msg = messageOf(body, reply);
  const block = msg.content[0]!;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': nextId('req') });
  const event = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  event('message_start', { message: { ...msg, content: [], stop_reason: null } });
  if (block.type === 'tool_use') {
    event('content_block_start', { index: 0, content_block: { ...block, input: {} } });
    event('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
  } else {
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: block.text } });
  }
  event('content_block_stop', { index: 0 });
  event('message_delta', { delta: { stop_reason: msg.stop_reason, stop_sequence: null }, usage: { output_tokens: 1 } });
  event('message_stop', {});
  res.end();
}

export async function startStandInModel(script: Script, port = 0): Promise<StandInModel> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer(async (req, res) => {
    const raw = await readBody(req);
    let body: any = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    requests.push({ method: req.method ?? 'GET', path, body, at: Date.now() });
    if (req.method === 'POST' && path === '/v1/messages/count_tokens') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ input_tokens: 1 }));
      return;
    }
    if (req.method !== 'POST' || path !== '/v1/messages') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'stand-in' } }));
      return;
    }
    const main = Array.isArray(body?.tools) && body.tools.length > 0;
    let reply: Reply;
    try {
      reply = script(body, main);
    } catch (e) {
      reply = { text: `stand-in script failed: ${(e as Error).message}` };
    }
    if (body?.stream) sendSse(res, body, reply);
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(messageOf(body, reply)));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  const { port: bound } = server.address() as AddressInfo;
  const mainRequests = () => requests.filter((r) => r.path === '/v1/messages' && Array.isArray(r.body?.tools) && r.body.tools.length > 0);
  return {
    url: `http://127.0.0.1:${bound}`,
    requests,
    mainRequests,
    exchanges: () => exchangesOf(mainRequests().at(-1)?.body),
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** Pairs each tool_use in a request's history with its tool_result. */
export function exchangesOf(body: any): ToolExchange[] {
  const uses = new Map<string, { name: string; input: unknown }>();
  const out: ToolExchange[] = [];
  for (const m of body?.messages ?? []) {
    if (!Array.isArray(m.content)) continue;
    for (const b of m.content) {
      if (b.type === 'tool_use') uses.set(b.id, { name: b.name, input: b.input });
      if (b.type === 'tool_result') {
        const use = uses.get(b.tool_use_id);
        const text = typeof b.content === 'string' ? b.content : (b.content ?? []).filter((c: any) => c.type === 'text').map((c: any) => c.text).join('');
        out.push({ name: use?.name ?? '?', input: use?.input, text, bytes: Buffer.byteLength(text), is_error: b.is_error === true });
      }
    }
  }
  return out;
}

/**
 * A script that calls the given tools one after another (each after the
 * previous one's result came back), then ends the turn; side requests get
 * plain text.
 */
export function toolSequence(calls: Array<{ tool: string; input: Record<string, unknown> }>, finalText = 'Done.'): Script {
  return (body, main) => {
    if (!main) return { text: 'AMS probe' };
    const done = exchangesOf(body).length;
    return calls[done] ?? { text: finalText };
  };
}
