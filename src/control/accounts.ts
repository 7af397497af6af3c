/**
 * Accounts from the outside: creating one, and checking the bearer credential
 * a request presents against the account object of its namespace.
 */
import { AmsError } from '../protocol/errors';
import { accountStub } from './account-stub';
import { bearerOf, credentialNamespace, hashCredential, newCredential } from './credentials';
import { secretsOf, type Env } from './env';
import { newAccountId } from './ids';

/** What a presented credential turned out to be. */
export type AccountCheck = { status: 'ok'; account_id: string } | { status: 'missing' } | { status: 'invalid' };

/** Creates the account for `namespace`; shared by `POST /v1/accounts` and MCP's anonymous accounts. */
export async function createAccount(env: Env, namespace: string) {
  const secrets = secretsOf(env);
  const credential = newCredential(namespace);
  const record = { account_id: newAccountId(), namespace, created_at: new Date().toISOString() };
  const created = await accountStub(env, namespace).create(record, hashCredential(credential, secrets.pepper));
  if (!created) throw new AmsError('namespace_taken', `The namespace "${namespace}" already has an account.`);
  return { ...record, credential };
}

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
