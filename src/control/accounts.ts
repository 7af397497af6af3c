/**
 * Accounts from the outside: creating one, and checking the bearer credential
 * a request presents against the account object of its namespace.
 */
import { AmsError } from '../protocol/errors';
import { accountStub } from './account-stub';
import { bearerOf, credentialNamespace, hashCredential, newCredential } from './credentials';
import { secretsOf, type Env } from './env';
import { newAccountId } from './ids';
import { emit } from './events';

import type { Place } from './account-object';

/** What a presented credential turned out to be. */
/** A credential check as a conversation sees it; `namespace` and `credential_generation` feed the presence index (decision 0170). */
export type AccountCheck = { status: 'ok'; account_id: string; namespace?: string; credential_generation?: number } | { status: 'missing' } | { status: 'invalid' };

/** A valid credential: whose it is, and its generation (a rotation makes the next one). */
export type CheckedAccount = { status: 'ok'; account_id: string; namespace: string; credential_generation: number };

/** Creates the account for `namespace`; shared by `POST /v1/accounts` and MCP's anonymous accounts. */
export async function createAccount(env: Env, namespace: string) {
  const secrets = secretsOf(env);
  const credential = newCredential(namespace);
  const record = { account_id: newAccountId(), namespace, created_at: new Date().toISOString() };
  const created = await accountStub(env, namespace).create(record, hashCredential(credential, secrets.pepper));
  if (!created) throw new AmsError('namespace_taken', `The namespace "${namespace}" already has an account.`);
  emit(env, 'account.created', { account: record.account_id, ns: namespace });
  return { ...record, credential };
}

/**
 * Checks a credential; `missing` when none was given. `at`: the conversation
 * it is being used to enter, recorded by the account in the same call so a
 * rotation reaches it (decision 0145).
 */
export async function checkCredential(env: Env, credential: string | undefined, at?: Place): Promise<CheckedAccount | { status: 'missing' } | { status: 'invalid' }> {
  if (credential === undefined) return { status: 'missing' };
  const namespace = credentialNamespace(credential);
  if (!namespace) return { status: 'invalid' };
  const hash = hashCredential(credential, secretsOf(env).pepper);
  const account = await accountStub(env, namespace).verify(hash, at);
  return account ? { status: 'ok', account_id: account.account_id, namespace: account.namespace, credential_generation: account.credential_generation } : { status: 'invalid' };
}

/** The stored form of a presented credential, or undefined when it names no namespace (or is not `namespace`'s). */
export function credentialHashFor(env: Env, credential: string | undefined, namespace: string): string | undefined {
  if (credential === undefined || credentialNamespace(credential) !== namespace) return undefined;
  return hashCredential(credential, secretsOf(env).pepper);
}

/** A new credential for `namespace`, shown once, with the hash the account stores. */
export function freshCredential(env: Env, namespace: string): { credential: string; hash: string } {
  const credential = newCredential(namespace);
  return { credential, hash: hashCredential(credential, secretsOf(env).pepper) };
}

/** The `Authorization: Bearer` credential of a request (undefined when absent, '' when not a bearer). */
export function bearerCredential(request: Request): string | undefined {
  return bearerOf(request.headers.get('authorization'));
}
