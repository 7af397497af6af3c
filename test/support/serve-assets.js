/**
 * The asset service of `npm run serve`: plain workerd has no assets binding,
 * so this worker answers for it, reading `public/` through a read-only disk
 * service (`FILES`). It follows the deployment's default HTML handling: `/`
 * is `index.html`, `/view` is `view.html`, and a request for the `.html` name
 * is redirected to the short one. Anything else missing is a 404, which the
 * Worker turns into its own not_found.
 */
const TYPES = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json',
  map: 'application/json',
  txt: 'text/plain; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  ico: 'image/x-icon',
  webp: 'image/webp',
  woff2: 'font/woff2',
  webmanifest: 'application/manifest+json',
};

function typeOf(path) {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return TYPES[ext] ?? 'application/octet-stream';
}

function redirect(url, path) {
  return new Response(null, { status: 307, headers: { location: `${path}${url.search}` } });
}

/** The file at `path`, or undefined (missing, a directory, or refused by the disk service). */
async function file(env, url, path, method) {
  const res = await env.FILES.fetch(new URL(path, url), { method });
  // The disk service types every file application/octet-stream and lists a directory as application/json.
  if (!res.ok || res.headers.get('content-type') === 'application/json') {
    await res.body?.cancel();
    return undefined;
  }
  const headers = new Headers({ 'content-type': typeOf(path) });
  const length = res.headers.get('content-length');
  if (length) headers.set('content-length', length);
  return new Response(method === 'HEAD' ? null : res.body, { status: 200, headers });
}

export default {
  async fetch(request, env) {
    if (request.method !== 'GET' && request.method !== 'HEAD') return new Response('method not allowed', { status: 405 });
    const url = new URL(request.url);
    const path = url.pathname;
    if (path.endsWith('/index.html')) return redirect(url, path.slice(0, -'index.html'.length));
    if (path.endsWith('.html')) return redirect(url, path.slice(0, -'.html'.length));
    const candidates = path.endsWith('/') ? [`${path}index.html`] : [path, `${path}.html`];
    for (const candidate of candidates) {
      const found = await file(env, url, candidate, request.method);
      if (found) return found;
    }
    return new Response('not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  },
};
