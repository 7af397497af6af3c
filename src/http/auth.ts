/** Who is calling: bearer credentials verified against the namespace's account object. */
import type { Context } from 'hono';
import type { AccountCheck } from '../conversation/admission';
import { bearerOf, credentialNamespace, hashCredential } from '../control/credentials';
import { secretsOf, type Env } from '../control/env';
import { AmsError } from '../protocol/errors';
import { accountStub } from '../control/stubs';

export type AppContext = Context<{ Bindings: Env }>;

/** Checks a credential; `missing` when none was given. */
export async function checkCredential(env: Env, credential: string | undefined): Promise<AccountCheck & { namespace?: string }> {
  if (credential === undefined) return { status: 'missing' };
  const namespace = credentialNamespace(credential);
  if (!namespace) return { status: 'invalid' };
  const hash = hashCredential(credential, secretsOf(env).pepper);
  const account = await accountStub(env, namespace).verify(hash);
  return account ? { status: 'ok', account_id: account.account_id, namespace: account.namespace } : { status: 'invalid' };
}

/** The `Authorization: Bearer` credential of a request (undefined when absent, '' when not a bearer). */
export function bearerCredential(request: Request): string | undefined {
  return bearerOf(request.headers.get('authorization'));
}

/** Requires the bearer of the account that owns `namespace`. */
export async function requireNamespaceOwner(c: AppContext, namespace: string): Promise<{ account_id: string }> {
  const check = await checkCredential(c.env, bearerCredential(c.req.raw));
  if (check.status === 'missing') throw new AmsError('missing_credential');
  if (check.status === 'invalid') throw new AmsError('invalid_credential');
  if (check.namespace !== namespace) throw new AmsError('namespace_mismatch', `The credential belongs to namespace "${check.namespace}", not "${namespace}".`);
  return { account_id: check.account_id };
}
