/**
 * `npm run serve`: the deployable bundle in plain workerd, our Worker the
 * outermost service (test/support/serve.ts). The same clients as against
 * `wrangler dev`, plus what only this runtime shows: the compression a
 * default client gets is what wrangler.toml decides (decision 0140).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { AmsClient, connectUrl } from '../../src/client';
import { startReceiver } from '../support/receiver';
import { startServe } from '../support/serve';
import { accounts, open, useBroker, waitFor } from './support';
import { registerWebhook } from './webhook-support';

const e2e = useBroker({ start: startServe });

/** Opens a socket as `ws` does by default (offering permessage-deflate) and resolves with what the server answered. */
function defaultClient(url: string): Promise<{ ws: WebSocket; extensions: string; first: string }> {
  const ws = new WebSocket(url);
  return new Promise((res, rej) => {
    ws.once('message', (data) => res({ ws, extensions: ws.extensions, first: data.toString() }));
    ws.once('error', rej);
  });
}

describe('npm run serve (plain workerd, the Worker outermost)', () => {
  it('answers health, and runs with the compatibility flags of wrangler.toml', async () => {
    const res = await fetch(`${e2e.broker.url}/healthz`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { ok: boolean }).ok).toBe(true);
    expect(e2e.broker.compatibilityFlags).toEqual(expect.arrayContaining(['nodejs_compat', 'no_web_socket_compression']));
  });

  it('mints a conversation and carries a token from a writer to a listener over WebSockets', async () => {
    const [owner, peer] = await accounts(e2e.api, 2);
    const conv = await e2e.api.createConversation(owner);
    expect(conv.magic_link).toContain(e2e.broker.url.replace('http://', ''));
    const writer = open(conv.magic_link, { credential: owner.credential, streamName: 'writer' });
    const listener = open(conv.magic_link, { credential: peer.credential });
    await Promise.all([writer.joined, listener.joined]);
    writer.send('over plain workerd');
    const heard = await listener.next((f) => f.type === 'token' && f.data === 'over plain workerd', 10_000);
    expect(heard.type).toBe('token');
    await Promise.all([writer.close(), listener.close()]);
  });

  it('a default `ws` client offering permessage-deflate gets no compression (decision 0140)', async () => {
    const [owner] = await accounts(e2e.api, 1);
    const conv = await e2e.api.createConversation(owner);
    const { ws, extensions, first } = await defaultClient(connectUrl(conv.observer_link));
    expect(first).toMatch(/^\{"type":"joined"/);
    expect(extensions).toBe('');
    ws.close();
    // The decision lives in one place: the flag in wrangler.toml's top level, which the runtime was generated from.
    expect(readFileSync(resolve(import.meta.dirname, '../../wrangler.toml'), 'utf8')).toMatch(/^compatibility_flags\s*=\s*\[[^\]]*"no_web_socket_compression"/m);
  });

  it('lets the Worker reach localhost in development: a webhook is delivered to a local receiver', async () => {
    const [owner, peer] = await accounts(e2e.api, 2);
    const conv = await e2e.api.createConversation(owner);
    const r = await startReceiver();
    try {
      const reg = await registerWebhook(conv.magic_link, owner.credential, { url: r.url });
      expect(reg.status, JSON.stringify(reg.body)).toBe(201);
      r.secret = reg.body.secret;
      const speaker = open(conv.magic_link, { credential: peer.credential, streamName: 'alice' });
      await speaker.joined;
      speaker.send('to localhost', { end: true });
      await waitFor(() => r.deliveries.length >= 1, 20_000, 'a webhook delivery');
      expect(r.deliveries[0]!.body).toMatchObject({ type: 'utterance', text: 'to localhost' });
      expect(r.rejected).toEqual([]);
      await speaker.close();
    } finally {
      await r.close();
    }
  });

  it('serves the pages without an assets binding: the demo page, a magic link in a browser, static files, short names', async () => {
    const demo = await fetch(`${e2e.broker.url}/`);
    expect(demo.status).toBe(200);
    expect(demo.headers.get('content-type')).toMatch(/^text\/html/);
    expect(demo.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await demo.text()).toContain('<html');

    const [owner] = await accounts(e2e.api, 1);
    const conv = await e2e.api.createConversation(owner);
    const view = await fetch(conv.observer_link, { headers: { accept: 'text/html' } });
    expect(view.status).toBe(200);
    expect(view.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await view.text()).toContain('<html');

    const style = await fetch(`${e2e.broker.url}/app/style.css`);
    expect(style.status).toBe(200);
    expect(style.headers.get('content-type')).toMatch(/^text\/css/);
    const script = await fetch(`${e2e.broker.url}/app/api.js`);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);

    const long = await fetch(`${e2e.broker.url}/view.html`, { redirect: 'manual' });
    expect(long.status).toBe(307);
    expect(long.headers.get('location')).toBe('/view');
    const dir = await fetch(`${e2e.broker.url}/app`);
    expect(dir.status).toBe(404);
    expect(((await dir.json()) as { error: string }).error).toBe('not_found');
  });
});

describe('npm run serve --production', () => {
  it('refuses to start without the secrets, naming them', async () => {
    await expect(startServe({ production: true, secrets: { AMS_CREDENTIAL_PEPPER: '', AMS_LINK_SECRET: '' } })).rejects.toThrow(/AMS_CREDENTIAL_PEPPER and AMS_LINK_SECRET/);
  });

  it('runs with the secrets it is given', async () => {
    const prod = await startServe({ production: true, secrets: { AMS_CREDENTIAL_PEPPER: 'p'.repeat(32), AMS_LINK_SECRET: 's'.repeat(32) } });
    try {
      const client = new AmsClient(prod.url);
      const [owner] = await accounts(client, 1);
      const conv = await client.createConversation(owner);
      expect(conv.observer_link).toContain(`127.0.0.1:${prod.port}`);
      expect(prod.output()).not.toContain('using development secrets');
      expect(e2e.broker.output()).toContain('using development secrets');
    } finally {
      await prod.stop();
    }
  });
});
