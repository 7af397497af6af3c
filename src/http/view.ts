/**
 * The human side of the broker: the demo page at `/`, and a magic link opened
 * in a browser (`Accept: text/html`) as a live view of its conversation. Both
 * are static files from `public/`, served with headers that keep the link's
 * token out of `Referer` and forbid the page from running anything it did not
 * ship. Any other request for a link path falls through to the next route
 * (the MCP endpoint), so one URL serves people and agents.
 */
import { Hono, type Context, type Next } from 'hono';
import type { Env } from '../control/env';
import { CLOSE } from '../protocol/close-codes';
import { ERRORS, errorBody, errorResponse, type HttpErrorCode } from '../protocol/errors';
import { secretsOf } from '../control/env';
import { verifyLink } from '../control/links';
import { conversationStub } from '../conversation/conversation-stub';
import { ALIAS_RE, NAMESPACE_RE } from '../protocol/validate';
import { joinLines } from '../protocol/join-lines';
import { linkErrorHtml, linkErrorMarkdown, linkJson, linkMarkdown, negotiate } from './link-answer';
import { LOGGED_FRAME_TYPES } from '../protocol/frames';
import { LIMITS } from '../protocol/limits';

export const view = new Hono<{ Bindings: Env }>();

/** The demo page and the link view (`public/index.html`, `public/view.html`), by the paths the asset server serves them at. */
export const DEMO_PAGE = '/';
export const VIEW_PAGE = '/view';

/**
 * Headers for the two documents. The magic link is a capability in the URL,
 * so no request the page makes may carry it in `Referer`; the CSP means a
 * peer's token can never become script even if a renderer slipped.
 */
export const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

/** An HTML document with the page headers, whichever path reached it. */
function asPage(asset: Response, method: string, status: number): Response {
  const headers = new Headers(asset.headers);
  for (const [k, v] of Object.entries(PAGE_HEADERS)) headers.set(k, v);
  headers.delete('etag');
  if (method === 'HEAD') {
    void asset.body?.cancel();
    return new Response(null, { status, headers });
  }
  return new Response(asset.body, { status, headers });
}

async function servePage(c: Context<{ Bindings: Env }>, file: string): Promise<Response> {
  if (!c.env.ASSETS) return errorResponse('not_found', 'This deployment serves no pages.');
  const asset = await c.env.ASSETS.fetch(new Request(new URL(file, c.req.url), { method: 'GET' }));
  if (!asset.ok) {
    console.error(`AMS: page asset ${file} answered ${asset.status}`);
    return errorResponse('internal_error');
  }
  return asPage(asset, c.req.method, 200);
}

/**
 * Whatever else `public/` holds, for a GET or HEAD no route took (undefined
 * when the asset server has nothing). The asset server also answers a page
 * by its file name and variants (`/view`, `/view.html`, `/view/`): every HTML
 * document leaves through `asPage`, so none escapes without the page headers.
 */
export async function serveAsset(assets: Fetcher, request: Request): Promise<Response | undefined> {
  const asset = await assets.fetch(request);
  if (asset.status === 404) {
    await asset.body?.cancel();
    return undefined;
  }
  if (!(asset.headers.get('content-type') ?? '').toLowerCase().startsWith('text/html')) return asset;
  return asPage(asset, request.method, asset.status);
}

view.get('/', (c) => servePage(c, DEMO_PAGE));

/** The link explains itself (link-answer.ts): the page, markdown or JSON by negotiation; an MCP request goes on to the MCP endpoint. */
view.get('/:ns/conversations/:alias', async (c, next: Next) => {
  const answer = negotiate(c.req.method, c.req.raw.headers);
  if (answer === 'mcp') return next();
  return linkDocument(c, answer);
});

const DOCUMENT_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  vary: 'accept',
};

async function linkDocument(c: Context<{ Bindings: Env }>, answer: 'html' | 'json' | 'markdown'): Promise<Response> {
  const { ns, alias } = c.req.param() as { ns: string; alias: string };
  const t = c.req.query('t');
  const fail = (code: HttpErrorCode, message?: string) => {
    const body = errorBody(code, message);
    const status = ERRORS[code][0];
    if (answer === 'json') return Response.json(body, { status, headers: DOCUMENT_HEADERS });
    if (answer === 'html') return asPage(new Response(linkErrorHtml(body.error, body.message), { headers: { 'content-type': HTML } }), c.req.method, status);
    return new Response(linkErrorMarkdown(body.error, body.message), { status, headers: { ...DOCUMENT_HEADERS, 'content-type': MARKDOWN } });
  };
  secretsOf(c.env);
  if (!NAMESPACE_RE.test(ns) || !ALIAS_RE.test(alias)) return fail('conversation_not_found');
  if (!t) return fail('invalid_magic_link', 'This address needs the t= of a magic link.');
  const check = verifyLink(secretsOf(c.env).linkSecret, ns, alias, t, Date.now() / 1000);
  // The page needs none of the document's content (its script reads the conversation live), only the verdict.
  const [messages, bytes] = answer === 'html' ? [0, 0] : [LIMITS.linkPageMessages, LIMITS.linkPageBytes];
  const out = await conversationStub(c.env, ns, alias).linkView(check.ok ? check.claims : null, messages, bytes);
  if (!out.ok) return fail(out.reason, out.reason === 'invalid_magic_link' && !check.ok && check.why === 'expired' ? 'This link has expired.' : undefined);
  if (answer === 'html') return servePage(c, VIEW_PAGE);
  const url = new URL(c.req.url);
  const link = `${url.origin}${url.pathname}?t=${encodeURIComponent(t)}`;
  const scope = check.ok ? check.claims.scope : 'read';
  if (answer === 'json') return Response.json(linkJson(out.view, link, scope), { headers: DOCUMENT_HEADERS });
  return new Response(linkMarkdown(out.view, link, scope), { headers: { ...DOCUMENT_HEADERS, 'content-type': MARKDOWN } });
}

const MARKDOWN = 'text/markdown; charset=utf-8';
const HTML = 'text/html; charset=utf-8';

/**
 * The close-code table, the logged frame types, the limits and the join lines
 * the page needs, generated from `src/protocol` so the browser never keeps a
 * second copy.
 */
export const PROTOCOL_MODULE = [
  '// Generated by the broker from src/protocol; do not edit.',
  // The bundler may wrap inner functions in a __name(fn, "name") helper: give the shipped function a harmless one.
  'const __name = (fn) => fn;',
  `export const joinLines = ${joinLines.toString()};`,
  `export const CLOSE = ${JSON.stringify(CLOSE)};`,
  `export const LOGGED_FRAME_TYPES = ${JSON.stringify(LOGGED_FRAME_TYPES)};`,
  `export const LIMITS = ${JSON.stringify({ tokenBytes: LIMITS.tokenBytes, metadataBytes: LIMITS.metadataBytes })};`,
  '',
].join('\n');

view.get('/app/protocol.js', (c) => c.body(PROTOCOL_MODULE, 200, {
  'content-type': 'text/javascript; charset=utf-8',
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
}));
