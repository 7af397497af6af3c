// @ts-check
/**
 * A small Model Context Protocol client over Streamable HTTP, written with
 * fetch: enough to show that the magic link is an MCP server and that its
 * tools are a translation of the wire. Every JSON-RPC message in either
 * direction is reported to `onMessage`, so the page can show the traffic.
 */

export const PROTOCOL_VERSION = '2025-06-18';

export class McpError extends Error {
  /** @param {string} code @param {string} message @param {unknown} [data] */
  constructor(code, message, data) {
    super(`${code}: ${message}`);
    this.code = code;
    this.data = data;
  }
}

/**
 * Reads a `text/event-stream` body and yields each event's data.
 * @param {ReadableStream<Uint8Array>} body
 */
async function* sseData(body) {
  const decoder = /** @type {ReadableWritablePair<string, Uint8Array>} */ (/** @type {unknown} */ (new TextDecoderStream()));
  const reader = body.pipeThrough(decoder).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
        if (data) yield data;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

export class McpSession {
  /**
   * @param {string} endpoint the magic link (it is the MCP endpoint)
   * @param {(direction: 'out' | 'in', message: any) => void} [onMessage]
   */
  constructor(endpoint, onMessage) {
    this.endpoint = endpoint;
    this.onMessage = onMessage ?? (() => {});
    /** @type {string | null} */
    this.sessionId = null;
    this.protocolVersion = PROTOCOL_VERSION;
    this.nextId = 1;
    /** @type {any} */
    this.serverInfo = null;
    this.instructions = '';
  }

  headers() {
    /** @type {Record<string, string>} */
    const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    if (this.sessionId) h['mcp-session-id'] = this.sessionId;
    if (this.serverInfo) h['mcp-protocol-version'] = this.protocolVersion;
    return h;
  }

  /**
   * Sends one JSON-RPC message; for a request, resolves with its result.
   * @param {any} message
   * @param {AbortSignal} [signal]
   */
  async post(message, signal) {
    this.onMessage('out', message);
    const res = await fetch(this.endpoint, { method: 'POST', headers: this.headers(), body: JSON.stringify(message), signal });
    const session = res.headers.get('mcp-session-id');
    if (session) this.sessionId = session;
    if (message.id === undefined) {
      await res.body?.cancel();
      if (!res.ok && res.status !== 202) throw new McpError(`http_${res.status}`, `The server refused ${message.method}.`);
      return undefined;
    }
    if (res.status === 404 && this.sessionId) throw new McpError('session_expired', 'The server no longer knows this MCP session.');
    const type = res.headers.get('content-type') ?? '';
    /** @type {any} */
    let reply;
    if (type.includes('text/event-stream') && res.body) {
      for await (const data of sseData(res.body)) {
        let msg;
        try {
          msg = JSON.parse(data);
        } catch {
          continue;
        }
        this.onMessage('in', msg);
        if (msg.id === message.id && ('result' in msg || 'error' in msg)) {
          reply = msg;
          break;
        }
      }
    } else {
      const text = await res.text();
      try {
        reply = JSON.parse(text);
      } catch {
        throw new McpError(`http_${res.status}`, text.slice(0, 200) || 'The server answered without JSON.');
      }
      this.onMessage('in', reply);
      if (reply?.jsonrpc !== '2.0') {
        throw new McpError(`http_${res.status}`, typeof reply?.message === 'string' ? reply.message : 'The server did not answer with JSON-RPC.');
      }
    }
    if (!reply) throw new McpError('no_response', `The server closed the stream without answering ${message.method}.`);
    if (reply.error) throw new McpError(String(reply.error.code), reply.error.message ?? 'error', reply.error.data);
    return reply.result;
  }

  /** @param {string} method @param {any} [params] @param {AbortSignal} [signal] */
  request(method, params, signal) {
    return this.post({ jsonrpc: '2.0', id: this.nextId++, method, ...(params === undefined ? {} : { params }) }, signal);
  }

  /** `initialize`, then `notifications/initialized`: the handshake every MCP client does. */
  async initialize() {
    const result = await this.request('initialize', {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'ams-demo-page', version: '1.0.0' },
    });
    this.protocolVersion = result.protocolVersion ?? PROTOCOL_VERSION;
    this.serverInfo = result.serverInfo ?? {};
    this.instructions = result.instructions ?? '';
    await this.post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return result;
  }

  /**
   * Calls a tool; a domain error (`isError`) is thrown as an McpError with the tool's `{error, message}`.
   * @param {string} name
   * @param {Record<string, unknown>} args
   * @param {AbortSignal} [signal]
   */
  async callTool(name, args, signal) {
    const result = await this.request('tools/call', { name, arguments: args }, signal);
    let value = result?.structuredContent;
    if (value === undefined) {
      const text = result?.content?.find((/** @type {any} */ c) => c.type === 'text')?.text;
      try {
        value = text === undefined ? undefined : JSON.parse(text);
      } catch {
        value = { message: text };
      }
    }
    if (result?.isError) throw new McpError(value?.error ?? 'tool_error', value?.message ?? 'The tool failed.', value);
    return value;
  }

  /** Ends the session on the server (best effort). */
  async close() {
    if (!this.sessionId) return;
    try {
      await fetch(this.endpoint, { method: 'DELETE', headers: this.headers() });
    } catch {
      // the page is going away anyway
    }
    this.sessionId = null;
  }
}
