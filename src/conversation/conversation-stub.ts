/**
 * Addressing a conversation object: one per `{namespace}/{alias}`, typed by
 * its class, so every call (control plane and MCP alike) is checked against
 * the object itself. Callers are the layers above: mcp and http.
 */
import type { Env, Remote } from '../control/env';
import type { ConversationObject } from './conversation-object';

export function conversationStub(env: Env, namespace: string, alias: string): Remote<ConversationObject> {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${namespace}/${alias}`)) as unknown as Remote<ConversationObject>;
}
