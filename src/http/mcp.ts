/**
 * The MCP endpoint (Streamable HTTP) on three addresses: the magic link itself
 * (`/{ns}/conversations/{alias}?t=…`, for every request but a browser's
 * `Accept: text/html` GET, which the view takes first), `{link path}/mcp?t=…`
 * (clients that insist on a path ending in /mcp), and a bare `/mcp`.
 *
 * The Worker only routes: a 2026-07-28 request (what `isLegacyRequest` calls
 * modern) is served statelessly here (mcp-modern.ts); a POST `initialize`
 * without a session id gets a new random id and goes to a fresh
 * McpSessionObject; any other request goes to the object its `mcp-session-id`
 * names. Nothing here ever answers 401.
 */
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { isLegacyRequest } from '@modelcontextprotocol/server';
import { takeForClient } from '../control/client-limit';
import { toBase64Url } from '../control/encoding';
import { secretsOf, type Env } from '../control/env';
import { jsonRpcError, RPC, sessionNotFound } from '../mcp/json-rpc';
import type { LinkAddress } from '../mcp/link';
import { BOUND_HEADER, INIT_HEADER, SESSION_HEADER } from '../mcp/session-object';
import { sessionStub } from '../mcp/session-stub';
import { AmsError } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { readText } from './body';
import { serveModern } from './mcp-modern';

export const mcp = new Hono<{ Bindings: Env }>();

const SESSION_ID_RE = /^[A-Za-z0-9_-]{43}$/;
const MCP_SESSION_ID = 'mcp-session-id';

/** 256 random bits: the session id is the only thing tying requests to an anonymous identity. */
export function newSessionId(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

async function serve(c: Context<{ Bindings: Env }>, bound: LinkAddress | null): Promise<Response> {
  try {
    secretsOf(c.env);
    const req = c.req.raw;
    const headers = new Headers(req.headers);
    for (const h of [SESSION_HEADER, INIT_HEADER, BOUND_HEADER, 'content-length']) headers.delete(h);
    const given = req.headers.get(MCP_SESSION_ID);
    let id: string;
    // Read whole (and capped) here: an object that answers early must not leave a request stream half read.
    const body = req.method === 'POST' ? await readText(req, LIMITS.mcpRequestBytes) : null;
    let message: unknown;
    try {
      message = body === null ? undefined : JSON.parse(body);
    } catch {
      message = undefined;
    }
    // 2026-07-28 (the `_meta` envelope, or its rejections) is served statelessly; the rest is a 2025-11-25 session's.
    if (message !== undefined && !(await isLegacyRequest(req, message, { maxRequestBodySize: LIMITS.mcpRequestBytes }))) {
      return await serveModern(c.env, new Request(req.url, { method: 'POST', headers: req.headers, body, signal: req.signal }), message, bound);
    }
    if (given === null) {
      if (req.method !== 'POST' || body === null) return jsonRpcError(400, RPC.badRequest, 'Bad Request: Mcp-Session-Id header is required; POST initialize first.');
      if (message === undefined) return jsonRpcError(400, RPC.parseError, 'Parse error: Invalid JSON');
      if (!isInitializeRequest(message)) return jsonRpcError(400, RPC.badRequest, 'Bad Request: Mcp-Session-Id header is required; POST initialize first.');
      // Every new session is counted against its client (decision 0107).
      const verdict = await takeForClient(c.env, req, 'mcp-session', LIMITS.mcpSessionsBurst, LIMITS.mcpSessionsPerHour);
      if (verdict && !verdict.ok) {
        const res = jsonRpcError(429, RPC.badRequest, `Too Many Requests: this client has opened too many MCP sessions; reuse one, or try again in ${verdict.retryAfter} s.`);
        res.headers.set('retry-after', String(verdict.retryAfter));
        return res;
      }
      id = newSessionId();
      headers.set(INIT_HEADER, '1');
      if (bound) headers.set(BOUND_HEADER, JSON.stringify(bound));
    } else {
      if (!SESSION_ID_RE.test(given)) return sessionNotFound();
      id = given;
    }
    headers.set(SESSION_HEADER, id);
    // The signal carries the client's going away to the session (decisions/0120).
    return await sessionStub(c.env, id).fetch(new Request(req.url, { method: req.method, headers, body, signal: req.signal }));
  } catch (err) {
    if (err instanceof AmsError) {
      // Never 401 on an MCP route: it would send the client into OAuth discovery.
      return Response.json(err.toJSON(), { status: err.status === 401 ? 403 : err.status });
    }
    console.error(`AMS MCP: ${c.req.method} ${new URL(c.req.url).pathname} failed`, err);
    return jsonRpcError(500, RPC.internalError, 'Internal error; it has been logged.');
  }
}

function boundOf(c: Context<{ Bindings: Env }>): LinkAddress {
  const { ns, alias } = c.req.param() as { ns: string; alias: string };
  return { ns, alias, t: c.req.query('t') ?? '' };
}

/** CORS for browser MCP clients: the session id must be readable, so it is exposed. */
const mcpCors = cors({
  origin: '*',
  allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
  allowHeaders: ['content-type', 'accept', 'authorization', 'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name', 'last-event-id'],
  exposeHeaders: ['mcp-session-id', 'mcp-protocol-version'],
  maxAge: 86400,
});
/** OPTIONS never reaches `serve`: the CORS middleware answers the preflight. */
const METHODS = ['OPTIONS', 'GET', 'POST', 'DELETE'];

mcp.on(METHODS, '/mcp', mcpCors, (c) => serve(c, null));
for (const path of ['/:ns/conversations/:alias/mcp', '/:ns/conversations/:alias']) {
  mcp.on(METHODS, path, mcpCors, (c) => serve(c, boundOf(c)));
}
