/**
 * `AMS_SIGNUP_TOKEN` gates account creation. The pool's broker runs without
 * it, so these tests run the same Hono app inside workerd with the real
 * Durable Object bindings and that one variable added.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { app } from '../../src/app';
import type { Env } from '../../src/control/env';
import { expectError, uniqueName } from './control-helpers';

const GATE = 'let-me-in-0123456789';
const gated: Env = { ...(env as unknown as Env), AMS_SIGNUP_TOKEN: GATE };

function createAccount(namespace: string, headers: Record<string, string> = {}, bindings: Env = gated): Promise<Response> {
  return Promise.resolve(app.fetch(new Request('https://ams.test/v1/accounts', {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ namespace }),
  }), bindings));
}

describe('with AMS_SIGNUP_TOKEN set', () => {
  it('refuses account creation without X-AMS-Signup-Token with 403 signup_forbidden, creating nothing', async () => {
    const namespace = uniqueName('gate');
    await expectError(await createAccount(namespace), 403, 'signup_forbidden');
    expect((await createAccount(namespace, { 'x-ams-signup-token': GATE })).status).toBe(201);
  });

  it('refuses a wrong, truncated or extended signup token with 403 signup_forbidden', async () => {
    for (const token of ['wrong', GATE.slice(0, -1), `${GATE}0`, GATE.toUpperCase(), '']) {
      await expectError(await createAccount(uniqueName('gate-bad'), { 'x-ams-signup-token': token }), 403, 'signup_forbidden');
    }
  });

  it('creates the account with the right signup token, answering the usual 201 shape', async () => {
    const namespace = uniqueName('gate-ok');
    const res = await createAccount(namespace, { 'x-ams-signup-token': GATE });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ namespace, credential: expect.stringMatching(/^ams_sk_/) });
  });

  it('checks the gate before the body, so an outsider learns nothing about namespaces', async () => {
    const namespace = uniqueName('gate-probe');
    expect((await createAccount(namespace, { 'x-ams-signup-token': GATE })).status).toBe(201);
    await expectError(await createAccount(namespace), 403, 'signup_forbidden');
    await expectError(await createAccount('Not Valid'), 403, 'signup_forbidden');
  });

  it('does not gate anything else: minting with a credential needs no signup token', async () => {
    const namespace = uniqueName('gate-mint');
    const { credential } = (await (await createAccount(namespace, { 'x-ams-signup-token': GATE })).json()) as { credential: string };
    const res = await app.fetch(new Request(`https://ams.test/v1/${namespace}/conversations`, {
      method: 'POST', headers: { authorization: `Bearer ${credential}` },
    }), gated);
    expect(res.status).toBe(201);
  });
});

describe('without AMS_SIGNUP_TOKEN', () => {
  it('creates accounts with no signup token at all', async () => {
    const open = { ...gated, AMS_SIGNUP_TOKEN: undefined };
    expect((await createAccount(uniqueName('open'), {}, open)).status).toBe(201);
  });
});
