/**
 * DNS-rebinding guard for the MCP endpoints of a local broker.
 *
 * A web page whose name the attacker points at 127.0.0.1 can POST to a broker
 * on a developer's laptop as if it were its own origin: the browser sends
 * `Host: evil.example:8787` and `Origin: http://evil.example:8787`, and no
 * CORS rule stops it. A local broker (anything but `AMS_ENV=production`)
 * therefore answers only requests whose Host, and Origin when there is one,
 * name this machine: `localhost`, `*.localhost`, a loopback address, a name
 * under `.test` (RFC 6761: reserved, so no public resolver answers it and
 * nobody can rebind it), or a host listed in `AMS_ALLOWED_HOSTS`. Anything else
 * is `403` with a JSON-RPC error that has no id, as the MCP transport says.
 *
 * A deployed broker (`AMS_ENV=production`) is not guarded: Cloudflare routes a
 * request to the Worker only for the Worker's own hostnames, and browser MCP
 * clients on other origins are welcome there (CORS allows any origin).
 */
import type { MiddlewareHandler } from 'hono';
import type { Env } from '../control/env';

/** The two settings the guard reads; `AMS_ALLOWED_HOSTS` is a comma-separated list of extra hostnames. */
export interface GuardEnv {
  AMS_ENV?: string;
  AMS_ALLOWED_HOSTS?: string;
}

/** Why a request must be refused, or null when it may pass. */
export function foreignHostOrOrigin(req: Request, env: GuardEnv): string | null {
  if (env.AMS_ENV === 'production') return null;
  const extra = allowList(env.AMS_ALLOWED_HOSTS);
  const host = req.headers.get('host') ?? new URL(req.url).host;
  const hostname = hostnameOf(host);
  if (hostname === null || !isLocalName(hostname, extra)) return `Host ${JSON.stringify(host)} is not this machine`;
  const origin = req.headers.get('origin');
  if (origin === null) return null;
  const originHost = originHostname(origin);
  if (originHost === null || !isLocalName(originHost, extra)) return `Origin ${JSON.stringify(origin)} is not this machine`;
  return null;
}

/** Hono middleware: refuses a foreign Host/Origin, lets everything else through. */
export const originGuard: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const reason = foreignHostOrOrigin(c.req.raw, c.env as GuardEnv);
  if (reason === null) return next();
  return Response.json(
    { jsonrpc: '2.0', error: { code: -32600, message: `Forbidden: ${reason}; a local broker answers only localhost (see AMS_ALLOWED_HOSTS).` }, id: null },
    { status: 403 },
  );
};

function allowList(raw: string | undefined): Set<string> {
  return new Set((raw ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h.length > 0));
}

/** The hostname of a Host header value (`name`, `name:port`, `[v6]:port`), lower-cased; null when unparsable. */
function hostnameOf(host: string): string | null {
  if (host.length === 0 || /[\s/?#@\\]/.test(host)) return null;
  try {
    return new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    return null;
  }
}

/** The hostname of an http(s) Origin; `null` (the literal origin of sandboxed pages and files) and others are foreign. */
function originHostname(origin: string): string | null {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.hostname.toLowerCase() : null;
  } catch {
    return null;
  }
}

function isLocalName(hostname: string, extra: Set<string>): boolean {
  if (extra.has(hostname)) return true;
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) return true;
  if (hostname === 'test' || hostname.endsWith('.test')) return true;
  if (hostname === '[::1]') return true;
  // WHATWG URL parsing has already turned 127.1 or 0x7f.1 into dotted decimal.
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
