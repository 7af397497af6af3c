/**
 * A production deployment without real secrets refuses to serve: every API
 * call answers 500 `misconfigured`. The same Hono app runs here inside workerd
 * with the real Durable Object bindings and production variables.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import type { Env } from '../../src/control/env';
import { expectError, mint, newAccount, tokenOf, uniqueName } from './control-helpers';

const base = env as unknown as Env;
const PEPPER = 'p'.repeat(40);
const LINK_SECRET = 's'.repeat(40);

function withEnv(vars: Partial<Env>): Env {
  const e: Env = { ...base, AMS_CREDENTIAL_PEPPER: undefined, AMS_LINK_SECRET: undefined, ...vars };
  return e;
}

async function send(bindings: Env, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
  return app.fetch(new Request(`https://ams.test${path}`, { method, headers: init.headers, body: init.body }), bindings);
}

describe('AMS_ENV=production without secrets', () => {
  const prod = withEnv({ AMS_ENV: 'production' });

  it('answers every control-plane call with 500 misconfigured, before anything else', async () => {
    const owner = await newAccount('misconf');
    const m = await mint(owner);
    const auth = { authorization: `Bearer ${owner.credential}`, 'content-type': 'application/json' };
    const calls: [string, string, { headers?: Record<string, string>; body?: string }][] = [
      ['POST', '/v1/accounts', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: uniqueName('never') }) }],
      ['POST', '/v1/accounts', { headers: { 'content-type': 'application/json' }, body: 'not json' }],
      ['POST', `/v1/${owner.namespace}/conversations`, { headers: auth, body: '{}' }],
      ['POST', `/v1/${owner.namespace}/conversations`, {}],
      ['GET', `/v1/${owner.namespace}/conversations/${m.alias}`, { headers: auth }],
      ['GET', `/v1/${owner.namespace}/conversations/${m.alias}?t=${tokenOf(m.magic_link)}`, {}],
      ['POST', `/v1/${owner.namespace}/conversations/${m.alias}/links`, { headers: auth, body: '{"scope":"read"}' }],
      ['POST', `/v1/${owner.namespace}/conversations/${m.alias}/links/rotate`, { headers: auth }],
      ['DELETE', `/v1/${owner.namespace}/conversations/${m.alias}`, { headers: auth }],
    ];
    for (const [method, path, init] of calls) {
      await expectError(await send(prod, method, path, init), 500, 'misconfigured');
    }
  });

  it('answers the stream-plane HTTP routes with 500 misconfigured', async () => {
    const owner = await newAccount('misconf-stream');
    const m = await mint(owner);
    const link = new URL(m.magic_link);
    const t = tokenOf(m.magic_link);
    for (const [method, path, headers] of [
      ['GET', `${link.pathname}/connect?t=${t}`, { upgrade: 'websocket', authorization: `Bearer ${owner.credential}` }],
      ['GET', `${link.pathname}/history?t=${t}`, {}],
      ['GET', `${link.pathname}/events?t=${t}`, { accept: 'text/event-stream' }],
      ['POST', `${link.pathname}/tokens?t=${t}`, { authorization: `Bearer ${owner.credential}`, 'content-type': 'text/plain' }],
    ] as [string, string, Record<string, string>][]) {
      const res = await send(prod, method, path, { headers, body: method === 'POST' ? 'hello' : undefined });
      await expectError(res, 500, 'misconfigured');
    }
  });

  it('has really changed nothing: the conversation it refused to delete or rotate still answers with its links', async () => {
    const owner = await newAccount('misconf-intact');
    const m = await mint(owner);
    const auth = { authorization: `Bearer ${owner.credential}` };
    await expectError(await send(prod, 'DELETE', `/v1/${owner.namespace}/conversations/${m.alias}`, { headers: auth }), 500, 'misconfigured');
    await expectError(await send(prod, 'POST', `/v1/${owner.namespace}/conversations/${m.alias}/links/rotate`, { headers: auth }), 500, 'misconfigured');
    const dev = withEnv({ AMS_ENV: 'development' });
    expect((await send(dev, 'GET', `/v1/${owner.namespace}/conversations/${m.alias}?t=${tokenOf(m.magic_link)}`)).status).toBe(200);
  });

  it('answers misconfigured when only one secret is set, or a secret is shorter than 32 characters', async () => {
    for (const vars of [
      { AMS_CREDENTIAL_PEPPER: PEPPER },
      { AMS_LINK_SECRET: LINK_SECRET },
      { AMS_CREDENTIAL_PEPPER: 'short', AMS_LINK_SECRET: LINK_SECRET },
      { AMS_CREDENTIAL_PEPPER: PEPPER, AMS_LINK_SECRET: 'x'.repeat(31) },
    ]) {
      const res = await send(withEnv({ AMS_ENV: 'production', ...vars }), 'POST', '/v1/accounts', {
        headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: uniqueName('half') }),
      });
      await expectError(res, 500, 'misconfigured');
    }
  });

  it('never reveals a secret in the misconfigured answer', async () => {
    const res = await send(withEnv({ AMS_ENV: 'production', AMS_CREDENTIAL_PEPPER: PEPPER, AMS_LINK_SECRET: 'short' }), 'POST', '/v1/accounts', {
      headers: { 'content-type': 'application/json' }, body: '{}',
    });
    const text = await res.text();
    expect(text).not.toContain(PEPPER);
    expect(text).not.toContain('short');
  });
});

describe('AMS_ENV=production with real secrets', () => {
  const prod = withEnv({ AMS_ENV: 'production', AMS_CREDENTIAL_PEPPER: PEPPER, AMS_LINK_SECRET: LINK_SECRET });

  it('serves: account, mint and inspect by link all succeed', async () => {
    const namespace = uniqueName('prod');
    const created = await send(prod, 'POST', '/v1/accounts', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace }) });
    expect(created.status).toBe(201);
    const { credential } = (await created.json()) as { credential: string };
    const minted = await send(prod, 'POST', `/v1/${namespace}/conversations`, { headers: { authorization: `Bearer ${credential}` } });
    expect(minted.status).toBe(201);
    const { alias, magic_link } = (await minted.json()) as { alias: string; magic_link: string };
    expect((await send(prod, 'GET', `/v1/${namespace}/conversations/${alias}?t=${tokenOf(magic_link)}`)).status).toBe(200);
  });

  it('does not accept a credential hashed under another pepper', async () => {
    const namespace = uniqueName('pepper');
    const created = await send(prod, 'POST', '/v1/accounts', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace }) });
    const { credential } = (await created.json()) as { credential: string };
    const repeppered = withEnv({ AMS_ENV: 'production', AMS_CREDENTIAL_PEPPER: 'q'.repeat(40), AMS_LINK_SECRET: LINK_SECRET });
    const res = await send(repeppered, 'POST', `/v1/${namespace}/conversations`, { headers: { authorization: `Bearer ${credential}` } });
    await expectError(res, 401, 'invalid_credential');
  });

  it('does not accept a link signed with another link secret', async () => {
    const owner = await newAccount('resign');
    const m = await mint(owner);
    const res = await send(prod, 'GET', `/v1/${owner.namespace}/conversations/${m.alias}?t=${tokenOf(m.magic_link)}`);
    await expectError(res, 403, 'invalid_magic_link');
  });
});

describe('AMS_ENV unset or anything but "development" (a deployment nobody configured)', () => {
  it('fails closed: no development secrets, every API call answers misconfigured', async () => {
    for (const AMS_ENV of [undefined, '', 'staging', 'Development']) {
      const res = await send(withEnv({ AMS_ENV }), 'POST', '/v1/accounts', {
        headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: uniqueName('unset') }),
      });
      await expectError(res, 500, 'misconfigured');
    }
  });

  it('still serves with real secrets', async () => {
    const res = await send(withEnv({ AMS_ENV: undefined, AMS_CREDENTIAL_PEPPER: PEPPER, AMS_LINK_SECRET: LINK_SECRET }), 'POST', '/v1/accounts', {
      headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: uniqueName('unset-ok') }),
    });
    expect(res.status).toBe(201);
  });
});
