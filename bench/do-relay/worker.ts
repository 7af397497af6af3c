/**
 * The floor inside workerd: a bare Durable Object relay, run by the same
 * `wrangler dev` as AMS. A socket joins `/{room}/{owner}`; each message goes
 * as is to every other socket in the room with a different owner. No parsing,
 * no log, no storage: what is left is the runtime's own cost.
 */
import { DurableObject } from 'cloudflare:workers';

interface RelayEnv {
  ROOM: DurableObjectNamespace;
}

export class Room extends DurableObject<RelayEnv> {
  private readonly owners = new Map<WebSocket, string>();

  constructor(ctx: DurableObjectState, env: RelayEnv) {
    super(ctx, env);
    for (const ws of ctx.getWebSockets()) this.owners.set(ws, ctx.getTags(ws)[0] ?? '');
  }

  override fetch(request: Request): Response {
    const owner = new URL(request.url).pathname.split('/')[2] ?? '';
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, [owner]);
    this.owners.set(server, owner);
    return new Response(null, { status: 101, webSocket: client });
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const owner = this.owners.get(ws);
    for (const [peer, o] of this.owners) if (o !== owner) peer.send(message);
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    this.owners.delete(ws);
    // Answer the client's close frame, as AMS does, so it is not left waiting for a timeout.
    ws.close(code === 1005 || code === 1006 ? 1000 : code, 'bye');
  }
}

export default {
  fetch(request: Request, env: RelayEnv): Promise<Response> | Response {
    const room = new URL(request.url).pathname.split('/')[1];
    if (!room || room === 'healthz') return Response.json({ ok: true });
    return env.ROOM.get(env.ROOM.idFromName(room)).fetch(request);
  },
};
