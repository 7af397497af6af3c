/**
 * The MCP 2026-07-28 leg (decisions 0085–0087): every request the SDK's
 * `isLegacyRequest` calls modern is served here, in the Worker, by a
 * per-request `createMcpHandler` (`@modelcontextprotocol/server`) over the
 * shared tool registry. The SDK owns the envelope, the header checks, the
 * error ladder, `resultType`, caching hints and `subscriptions/listen`.
 *
 * Our one layer on top: the revisions a client is offered. The SDK lists only
 * the modern ones; this endpoint also speaks 2025-11-25 (in sessions), so
 * `server/discover` and the unsupported-version error list both — except for
 * the clients of `SESSION_ONLY_CLIENTS`, offered 2025-11-25 alone (0086).
 */
import { createMcpHandler } from '@modelcontextprotocol/server';
import type { Env } from '../control/env';
import type { LinkAddress } from '../mcp/link';
import { boundInstructions } from '../mcp/purpose';
import { statelessServer } from '../mcp/stateless';
import { LIMITS } from '../protocol/limits';

export const MODERN_VERSION = '2026-07-28';
export const SESSION_VERSION = '2025-11-25';
const BOTH = [MODERN_VERSION, SESSION_VERSION];

/**
 * Clients (by `_meta["io.modelcontextprotocol/clientInfo"].name`) whose
 * `server/discover` lists only 2025-11-25: Claude Code 2.1.332 delivers
 * channel messages only on a 2025-11-25 connection, and declares nothing in
 * its capabilities that would tell it apart (decision 0086).
 */
export const SESSION_ONLY_CLIENTS = new Set(['claude-code']);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function clientName(message: unknown): unknown {
  const meta = isObject(message) && isObject(message.params) ? message.params._meta : undefined;
  const info = isObject(meta) ? meta['io.modelcontextprotocol/clientInfo'] : undefined;
  return isObject(info) ? info.name : undefined;
}

/** The SDK's JSON answer with our list of revisions in it (discover result, unsupported-version error). */
async function offerRevisions(res: Response, message: unknown): Promise<Response> {
  if (!(res.headers.get('content-type') ?? '').startsWith('application/json')) return res;
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return new Response(text, res);
  }
  if (isObject(body) && isObject(body.result) && Array.isArray(body.result.supportedVersions)) {
    const name = clientName(message);
    body.result.supportedVersions = typeof name === 'string' && SESSION_ONLY_CLIENTS.has(name) ? [SESSION_VERSION] : BOTH;
  } else if (isObject(body) && isObject(body.error) && body.error.code === -32022 && isObject(body.error.data)) {
    body.error.data.supported = BOTH;
  } else {
    return new Response(text, res);
  }
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  return new Response(JSON.stringify(body), { status: res.status, statusText: res.statusText, headers });
}

/** Serves one 2026-07-28 request; `message` is its body, already read and parsed under the size cap. */
export async function serveModern(env: Env, request: Request, message: unknown, bound: LinkAddress | null): Promise<Response> {
  try {
    // Only discovery tells the instructions: a tool call need not look the conversation up for them.
    const method = isObject(message) ? message.method : undefined;
    const instructions = method === 'server/discover' ? await boundInstructions(env, bound) : '';
    const handler = createMcpHandler(() => statelessServer(env, request, bound, instructions), {
      legacy: 'reject',
      responseMode: 'json',
      maxRequestBodySize: LIMITS.mcpRequestBytes,
    });
    return await offerRevisions(await handler.fetch(request, { parsedBody: message }), message);
  } catch (err) {
    // Tool failures are results; only a failure of the serving itself lands here.
    console.error('AMS MCP (2026-07-28): request failed', err);
    const id = isObject(message) && (typeof message.id === 'string' || typeof message.id === 'number') ? message.id : null;
    return Response.json({ jsonrpc: '2.0', id, error: { code: -32603, message: 'Internal error; it has been logged.' } }, { status: 500 });
  }
}
