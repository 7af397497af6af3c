/** Who may call a control-plane route: the bearer of the account that owns the namespace. */
import type { Context } from 'hono';
import { bearerCredential, checkCredential } from '../control/accounts';
import type { Env } from '../control/env';
import { AmsError } from '../protocol/errors';

export type AppContext = Context<{ Bindings: Env }>;

/** Requires the bearer of the account that owns `namespace`. */
export async function requireNamespaceOwner(c: AppContext, namespace: string): Promise<{ account_id: string }> {
  const check = await checkCredential(c.env, bearerCredential(c.req.raw));
  if (check.status === 'missing') throw new AmsError('missing_credential');
  if (check.status === 'invalid') throw new AmsError('invalid_credential');
  if (check.namespace !== namespace) throw new AmsError('namespace_mismatch', `The credential belongs to namespace "${check.namespace}", not "${namespace}".`);
  return { account_id: check.account_id };
}
