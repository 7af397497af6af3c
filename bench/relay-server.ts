/**
 * The floor: a bare WebSocket relay in a few lines of Node and `ws`. A socket
 * joins `/{room}/{owner}`; each message goes, unparsed and unlogged, to every
 * other socket in the room with a different owner. Run as its own process.
 */
import { WebSocketServer, type WebSocket } from 'ws';

const rooms = new Map<string, Set<WebSocket & { owner?: string }>>();
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0) });
wss.on('listening', () => process.stdout.write(`${JSON.stringify({ port: (wss.address() as { port: number }).port })}\n`));
wss.on('connection', (ws: WebSocket & { owner?: string }, req) => {
  const [, room = '', owner = ''] = (req.url ?? '').split('/');
  const members = rooms.get(room) ?? new Set();
  rooms.set(room, members);
  ws.owner = owner;
  members.add(ws);
  ws.on('message', (data, isBinary) => {
    for (const peer of members) if (peer.owner !== owner) peer.send(data, { binary: isBinary });
  });
  ws.on('close', () => members.delete(ws));
});
