/**
 * How an MCP session reaches the objects it talks to. The contract itself
 * (calls, arguments, results, the doorbell) is the conversation's:
 * src/conversation/member-rpc.ts.
 */
import type { Env } from '../control/env';
import type { McpConversationRpc, McpSessionRpc } from '../conversation/member-rpc';

export function mcpSessionByObjectId(env: Env, objectId: string): McpSessionRpc {
  return env.MCP_SESSIONS.get(env.MCP_SESSIONS.idFromString(objectId)) as unknown as McpSessionRpc;
}

export function mcpConversation(env: Env, ns: string, alias: string): McpConversationRpc {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${ns}/${alias}`)) as unknown as McpConversationRpc;
}
