/**
 * Addressing the Durable Objects: accounts by namespace, conversations by
 * `{namespace}/{alias}`. The RPC surfaces are spelled out here (rather than
 * inferred from the classes) so their types stay shallow and obvious.
 */
import type { Env } from './env';
import type { AccountRecord } from './account-object';
import type { ConversationRecord, StreamRecord } from '../conversation/store';

export interface AccountRpc {
  create(record: AccountRecord, credentialHash: string): Promise<boolean>;
  verify(credentialHash: string): Promise<AccountRecord | null>;
  claimDerivedId(conversationId: string, alias: string): Promise<boolean>;
  releaseDerivedId(conversationId: string): Promise<void>;
}

export interface ConversationRpc {
  create(record: ConversationRecord, minterStream: StreamRecord): Promise<boolean>;
  describe(): Promise<ConversationRecord | null>;
  inspect(): Promise<Record<string, unknown> | null>;
  rotate(): Promise<number>;
  destroy(): Promise<boolean>;
  fetch(request: Request): Promise<Response>;
}

export function accountStub(env: Env, namespace: string): AccountRpc {
  return env.ACCOUNTS.get(env.ACCOUNTS.idFromName(namespace)) as unknown as AccountRpc;
}

export function conversationStub(env: Env, namespace: string, alias: string): ConversationRpc {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${namespace}/${alias}`)) as unknown as ConversationRpc;
}
