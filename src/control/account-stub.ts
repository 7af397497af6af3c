/** Addressing an account object: one per namespace, typed by its class. */
import type { AccountObject } from './account-object';
import type { Env } from './env';

export function accountStub(env: Env, namespace: string): DurableObjectStub<AccountObject> {
  return env.ACCOUNTS.get(env.ACCOUNTS.idFromName(namespace));
}
