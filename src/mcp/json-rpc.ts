/** JSON-RPC error answers of the MCP endpoint, shared by the Worker's routes and the session object. */
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';

/**
 * The codes the SDK's own transport answers with. Two have no name in the
 * SDK's `ErrorCode` (it calls -32000 "ConnectionClosed" and -32001
 * "RequestTimeout"), so they are named here as the transport uses them.
 */
export const RPC = {
  badRequest: -32000,
  sessionNotFound: -32001,
  parseError: ErrorCode.ParseError,
  internalError: ErrorCode.InternalError,
} as const;

/** A JSON-RPC error response without an id, as the transport itself answers. */
export function jsonRpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: '2.0', error: { code, message }, id: null }, { status });
}

export function sessionNotFound(): Response {
  return jsonRpcError(404, RPC.sessionNotFound, 'Session not found: initialize a new MCP session.');
}
