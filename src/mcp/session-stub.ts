/** Addressing an MCP session object: one per session id, typed by its class. */
import type { Env, Remote } from '../control/env';
import type { McpSessionObject } from './session-object';

export function sessionStub(env: Env, sessionId: string): Remote<McpSessionObject> {
  return env.MCP_SESSIONS.get(env.MCP_SESSIONS.idFromName(sessionId)) as unknown as Remote<McpSessionObject>;
}
