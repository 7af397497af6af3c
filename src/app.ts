/** Every route, mounted in one place, with one error handler. */
import { Hono } from 'hono';
import type { Env } from './control/env';
import { AmsError, errorBody, errorResponse } from './protocol/errors';
import { emit } from './control/events';
import { accounts } from './http/accounts';
import { accountAdmin } from './http/account-admin';
import { conversations } from './http/conversations';
import { health } from './http/health';
import { stream } from './http/stream';
import { transcript } from './http/transcript';
import { webhooks } from './http/webhooks';
import { mcp } from './http/mcp';
import { originGuard } from './http/origin-guard';
import { refusals } from './http/observe';
import { serveAsset, view } from './http/view';

export const app = new Hono<{ Bindings: Env }>({ strict: false });

// Outermost: every 4xx, however it was made, is one event line (decision 0148).
app.use('*', refusals);

// First: a browser opening a magic link gets the live view; everything else falls through.
app.route('/', view);
app.route('/', health);
app.route('/', accounts);
app.route('/', accountAdmin);
app.route('/', conversations);
app.route('/', stream);
app.route('/', transcript);
app.route('/', webhooks);
// The magic link is also an MCP endpoint (after the view, which takes a browser's text/html GET).
app.on(['GET', 'POST', 'DELETE'], ['/mcp', '/:ns/conversations/:alias/mcp', '/:ns/conversations/:alias'], originGuard);
app.route('/', mcp);

/** OAuth discovery must find nothing: a 401 or an HTML page would send MCP clients into a login flow. */
app.all('/.well-known/*', (c) => c.json(errorBody('not_found', 'This broker does not use OAuth; pass a magic link or a bearer credential.'), 404));

app.notFound(async (c) => {
  const path = new URL(c.req.url).pathname;
  if ((c.req.method === 'GET' || c.req.method === 'HEAD') && c.env.ASSETS && !path.startsWith('/v1/')) {
    const asset = await serveAsset(c.env.ASSETS, c.req.raw);
    if (asset) return asset;
  }
  return errorResponse('not_found', `No route for ${c.req.method} ${path}.`);
});

app.onError((err, c) => {
  // A documented refusal; its event line is written by `refusals`.
  if (err instanceof AmsError) return c.json(err.toJSON(), err.status as 400);
  // The route's pattern, never its URL: a URL may carry a link token (`?t=`).
  const route = `${c.req.method} ${c.req.routePath}`;
  const requestId = crypto.randomUUID();
  emit(c.env, 'request.failed', { request_id: requestId, route });
  console.error(`AMS: ${route} failed (request ${requestId})`, err);
  return errorResponse('internal_error', `Something went wrong on our side; it has been logged as request ${requestId}.`);
});
