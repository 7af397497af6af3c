/**
 * Every HTML document the broker serves carries the page headers (CSP with
 * frame-ancestors, no referrer, nosniff, no-store), whatever path reaches it:
 * the canonical routes, the files' own names, and the asset server's variants.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { PAGE_HEADERS } from '../../src/http/view';
import { account, mint } from './support';

const ORIGIN = 'http://ams.test';

async function page(url: string): Promise<Response> {
  return SELF.fetch(url, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }, redirect: 'manual' });
}

describe('HTML documents', () => {
  it('carry the page headers on every path that serves one', async () => {
    const conv = await mint(await account());
    const paths = ['/', '/index.html', '/index', '/view', '/view.html', '/view/', '/index.html/', conv.magic_link, conv.observer_link];
    let documents = 0;
    for (const path of paths) {
      for (const method of ['GET', 'HEAD']) {
        const url = path.startsWith('http') ? path : `${ORIGIN}${path}`;
        const res = method === 'GET' ? await page(url) : await SELF.fetch(url, { method, headers: { accept: 'text/html' }, redirect: 'manual' });
        const type = res.headers.get('content-type') ?? '';
        await res.body?.cancel();
        if (!type.startsWith('text/html')) {
          expect(res.status, `${method} ${path}: ${res.status} ${type}`).not.toBe(200);
          continue;
        }
        documents += 1;
        for (const [name, value] of Object.entries(PAGE_HEADERS)) expect(res.headers.get(name), `${method} ${path} ${name}`).toBe(value);
      }
    }
    expect(documents).toBeGreaterThanOrEqual(6);
  });
});
