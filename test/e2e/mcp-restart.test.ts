/**
 * An MCP session outlives the server process: its state is in Durable Object
 * storage, and the same session id keeps working after `wrangler dev` restarts
 * on the same state directory and port.
 */
import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AmsClient, AmsSocket, type WebSocketConstructor } from '../../src/client';
import { startBroker, type Broker } from '../support/broker';
import { mcpAgent, recvTokens, type McpAgent } from './mcp-client';

let broker: Broker | undefined;
let agent: McpAgent | undefined;
afterAll(async () => {
  await agent?.close().catch(() => {});
  await broker?.stop();
});

it('keeps an MCP session, its stream and its cursor across a restart of the dev server', async () => {
  broker = await startBroker();
  const api = new AmsClient(broker.url);
  const owner = await api.createAccount(`mcp-restart-${Date.now().toString(36)}`);
  const conv = await api.createConversation(owner);
  agent = await mcpAgent(conv.magic_link);
  const joined = await agent.ok('ams_join', { stream_name: 'survivor' });
  const before = await agent.ok('ams_send', { data: 'before the restart' });
  const sessionId = agent.transport.sessionId;
  expect(sessionId).toBeTruthy();

  await broker.stop();
  broker = await startBroker({ stateDir: broker.stateDir, port: broker.port });

  // The same client, the same session id: no initialize again.
  const after = await agent.ok('ams_send', { data: 'after the restart' });
  expect(agent.transport.sessionId).toBe(sessionId);
  expect(after.seq).toBeGreaterThan(before.seq);

  const ws = AmsSocket.open(conv.magic_link, { credential: owner.credential, WebSocket: WebSocket as unknown as WebSocketConstructor, since: 0 });
  const token = await ws.next((f) => f.type === 'token' && f.seq === after.seq);
  expect(token).toMatchObject({ stream_id: joined.stream_id, stream_name: 'survivor', data: 'after the restart' });
  const joinedFrame = await ws.joined;
  expect(joinedFrame.peers.map((p) => p.stream_id)).toContain(joined.stream_id);

  ws.send('to the survivor');
  const heard = await recvTokens(agent, 1);
  expect(heard[0]).toMatchObject({ data: 'to the survivor', stream_id: conv.stream_id });
  await ws.close();
});
