/** `POST /v1/accounts`: mint an account that owns a namespace; the credential is shown once. */
import { Hono } from 'hono';
import { newCredential, hashCredential } from '../control/credentials';
import { secretsOf, type Env } from '../control/env';
import { newAccountId } from '../control/ids';
import { accountStub } from '../control/stubs';
import { AmsError } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { NAMESPACE_RE } from '../protocol/validate';
import { readJsonObject } from './body';
import { constantTimeEqual } from '../control/encoding';
import { takeSignup } from '../control/client-limit';

export const accounts = new Hono<{ Bindings: Env }>();

/** Creates the account for `namespace`; shared by the HTTP route and MCP's anonymous accounts. */
export async function createAccount(env: Env, namespace: string) {
  const secrets = secretsOf(env);
  const credential = newCredential(namespace);
  const record = { account_id: newAccountId(), namespace, created_at: new Date().toISOString() };
  const created = await accountStub(env, namespace).create(record, hashCredential(credential, secrets.pepper));
  if (!created) throw new AmsError('namespace_taken', `The namespace "${namespace}" already has an account.`);
  return { ...record, credential };
}

accounts.post('/v1/accounts', async (c) => {
  secretsOf(c.env);
  // Every attempt counts, so the limit also bounds guesses at the signup token.
  const refused = await takeSignup(c.env, c.req.raw);
  if (refused) return refused;
  const gate = c.env.AMS_SIGNUP_TOKEN;
  if (gate) {
    const enc = new TextEncoder();
    const given = c.req.header('x-ams-signup-token') ?? '';
    if (!constantTimeEqual(enc.encode(given), enc.encode(gate))) throw new AmsError('signup_forbidden');
  }
  const body = await readJsonObject(c.req.raw, LIMITS.controlBodyBytes, false);
  const namespace = body.namespace;
  if (typeof namespace !== 'string' || !NAMESPACE_RE.test(namespace)) throw new AmsError('invalid_namespace');
  const account = await createAccount(c.env, namespace);
  return c.json({ account_id: account.account_id, namespace, credential: account.credential, created_at: account.created_at }, 201);
});
