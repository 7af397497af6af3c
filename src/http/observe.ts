/**
 * The event lines of what the Worker answers (decision 0148): a stream route's
 * connection accepted or refused, and every other 4xx as `request.refused` —
 * thrown or built as a response, one line per refusal.
 */
import type { Context, Next } from 'hono';
import { REFUSED_HEADER } from '../conversation/connections';
import { emit } from '../control/events';
import type { Env } from '../control/env';
import { CLOSE, type CloseReason } from '../protocol/close-codes';
import type { PathKind } from '../protocol/events';

type Ctx = Context<{ Bindings: Env }>;

/** Requests whose refusal already has its line (`connection.refused`, `emit.rate_limited`), so `refusals` adds none. */
const evented = new WeakSet<Request>();

/** The route logged this request's refusal under an event of its own (`emit.rate_limited`): `refusals` adds none. */
export function refusalLogged(c: Ctx): void {
  evented.add(c.req.raw);
}

/** Emits `connection.accepted` or `connection.refused` for a WebSocket or SSE answer, and returns it. */
export function observed(c: Ctx, ns: string, alias: string, path: PathKind, scope: 'write' | 'read' | undefined, res: Response, account?: string): Response {
  const refused = res.headers.get(REFUSED_HEADER) as CloseReason | null;
  if (refused) emit(c.env, 'connection.refused', { ns, alias, path, code: CLOSE[refused]?.code ?? refused });
  else if (res.status >= 400) emit(c.env, 'connection.refused', { ns, alias, path, code: res.status, status: res.status });
  else emit(c.env, 'connection.accepted', { ns, alias, path, scope: scope ?? 'read', ...(account ? { account } : {}) });
  if (refused || res.status >= 400) refusalLogged(c);
  return res;
}

/**
 * Middleware: after the route (or `onError`, or `notFound`) answered, a 4xx
 * becomes one `request.refused` line with the route's pattern — never its URL,
 * which may carry a link token — and the answer's error code: `error` of an
 * AMS error body, the JSON-RPC code of an MCP one, else the status.
 */
export async function refusals(c: Ctx, next: Next): Promise<void> {
  await next();
  const status = c.res.status;
  if (status < 400 || status >= 500 || evented.has(c.req.raw)) return;
  emit(c.env, 'request.refused', { route: `${c.req.method} ${c.req.routePath}`, status, error: await errorCodeOf(c.res) });
}

async function errorCodeOf(res: Response): Promise<string> {
  if (!res.headers.get('content-type')?.includes('application/json')) return String(res.status);
  const body = (await res.clone().json().catch(() => null)) as { error?: unknown } | null;
  const error = body?.error;
  if (typeof error === 'string') return error;
  if (error && typeof error === 'object' && 'code' in error) return `jsonrpc_${String(error.code)}`;
  return String(res.status);
}
