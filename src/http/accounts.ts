/** `POST /v1/accounts`: mint an account that owns a namespace; the credential is shown once. */
import { Hono } from 'hono';
import { createAccount } from '../control/accounts';
import { constantTimeEqual } from '../control/encoding';
import { secretsOf, type Env } from '../control/env';
import { AmsError } from '../protocol/errors';
import { LIMITS } from '../protocol/limits';
import { NAMESPACE_RE } from '../protocol/validate';
import { readJsonObject } from './body';
import { takeSignup } from '../control/client-limit';

export const accounts = new Hono<{ Bindings: Env }>();

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
