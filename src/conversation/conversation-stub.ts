/**
 * Addressing a conversation object: one per `{namespace}/{alias}`, typed by
 * its class, so every call (control plane and MCP alike) is checked against
 * the object itself. Callers are the layers above: mcp and http.
 */
import type { Env, Remote } from '../control/env';
import type { ConversationObject } from './conversation-object';
import type { McpSessionRpc } from './member-rpc';

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
