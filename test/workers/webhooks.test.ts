/**
 * Webhooks inside workerd, through the real Worker: a registration holds a
 * stream of its own that inspect and peers see as connected, the secret
 * appears in no answer but the registration's, and deleting the conversation
 * makes every webhook object forget its webhook. (Deliveries to a receiver
 * are end-to-end tests: test/e2e/webhooks.test.ts.)
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { WebhookRpc } from '../../src/conversation/webhooks/rpc';
import { account, connect, inspect, mint, route } from './support';

async function register(link: string, credential: string, body: Record<string, unknown>) {
  const res = await SELF.fetch(route(link, 'webhooks'), { method: 'POST', headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

const object = (id: string) => env.WEBHOOKS.get(env.WEBHOOKS.idFromName(id)) as unknown as WebhookRpc;

describe('webhooks in workerd', () => {
  it('a registered webhook is a connected stream of its own identity; its secret is answered once and shown nowhere else', async () => {
    const owner = await account('wh');
    const conv = await mint(owner);
    const peer = await connect(conv.magic_link, { credential: owner.credential });
    const reg = await register(conv.magic_link, owner.credential, { url: 'https://hooks.example.com/in', stream_name: 'helper' });
    expect(reg.status).toBe(201);
    expect(reg.body.secret).toMatch(/^whsec_/);
    const joined = await peer.next((f) => f.type === 'stream_joined' && f.stream_name === 'helper');
    expect(joined).toMatchObject({ stream_id: reg.body.stream_id, owner_account_id: reg.body.webhook_id, metadata: { webhook: true }, identity: { kind: 'service' } });
    const info = await inspect(owner, conv.alias);
    expect(info.streams.find((s: { stream_name: string }) => s.stream_name === 'helper')).toMatchObject({ connected: true, owner_account_id: reg.body.webhook_id });
    const list = await SELF.fetch(route(conv.magic_link, 'webhooks'), { headers: { authorization: `Bearer ${owner.credential}` } });
    const listed = await list.text();
    expect(list.status).toBe(200);
    expect(JSON.parse(listed).webhooks).toHaveLength(1);
    for (const text of [listed, JSON.stringify(info), JSON.stringify(await object(reg.body.webhook_id).status())]) expect(text).not.toContain(reg.body.secret);
    peer.close();
  });

  it('deleting the conversation makes each webhook object forget its webhook', async () => {
    const owner = await account('wh');
    const conv = await mint(owner);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const reg = await register(conv.magic_link, owner.credential, { url: 'https://hooks.example.com/in' });
      expect(reg.status).toBe(201);
      ids.push(reg.body.webhook_id);
    }
    for (const id of ids) expect(await object(id).status()).toMatchObject({ state: 'active' });
    const del = await SELF.fetch(`http://ams.test/v1/${owner.namespace}/conversations/${conv.alias}`, { method: 'DELETE', headers: { authorization: `Bearer ${owner.credential}` } });
    expect(del.status).toBe(200);
    for (const id of ids) {
      const deadline = Date.now() + 10_000;
      while ((await object(id).status()) !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await object(id).status()).toBeNull();
    }
  });
});
