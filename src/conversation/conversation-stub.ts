/**
 * Addressing a conversation object: one per `{namespace}/{alias}`, typed by
 * its class, so every call (control plane and MCP alike) is checked against
 * the object itself. Callers are the layers above: mcp and http.
 */
import type { Env, Remote } from '../control/env';
import type { ConversationObject } from './conversation-object';
import type { McpSessionRpc } from './members/rpc';
import type { ShardRpc } from './shards/rpc';
import type { AudienceShard } from './shards/shard';
import type { WebhookRpc } from './webhooks/rpc';

export function conversationStub(env: Env, namespace: string, alias: string): Remote<ConversationObject> {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${namespace}/${alias}`)) as unknown as Remote<ConversationObject>;
}

/**
 * The doorbell of the MCP session object `objectId` (hex id), typed by the
 * contract this layer defines (`McpSessionRpc`), which that object implements.
 */
export function sessionDoorbell(env: Env, objectId: string): McpSessionRpc {
  return env.MCP_SESSIONS.get(env.MCP_SESSIONS.idFromString(objectId)) as unknown as McpSessionRpc;
}

/** Audience shard `index` of a conversation (decision 0110): named `{namespace}/{alias}#{index}`. */
export function audienceShardName(namespace: string, alias: string, index: number): string {
  return `${namespace}/${alias}#${index}`;
}

export function audienceShardStub(env: Env, name: string): Remote<AudienceShard> {
  return env.AUDIENCE.get(env.AUDIENCE.idFromName(name)) as unknown as Remote<AudienceShard>;
}

/** The feed side of a shard, as the conversation calls it. */
export function audienceShardRpc(env: Env, name: string): ShardRpc {
  return env.AUDIENCE.get(env.AUDIENCE.idFromName(name)) as unknown as ShardRpc;
}

/** The conversation a shard serves, by the shard's name. */
export function conversationOfShard(env: Env, name: string): Remote<ConversationObject> {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(name.slice(0, name.lastIndexOf('#')))) as unknown as Remote<ConversationObject>;
}

/** The object of webhook `id` (decision 0135): one per webhook, named by its id. */
export function webhookRpc(env: Env, id: string): WebhookRpc {
  return env.WEBHOOKS.get(env.WEBHOOKS.idFromName(id)) as unknown as WebhookRpc;
}
