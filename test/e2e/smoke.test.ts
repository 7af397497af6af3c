import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startBroker, type Broker } from '../support/broker';
import { AmsClient, AmsSocket, type WebSocketConstructor } from '../../src/client';

let broker: Broker;
beforeAll(async () => { broker = await startBroker(); });
afterAll(async () => { await broker?.stop(); });

it('two accounts exchange a token over real wrangler dev', async () => {
  const api = new AmsClient(broker.url);
  const a = await api.createAccount(`e2e-${Date.now()}`);
  const b = await api.createAccount(`e2e-${Date.now()}-b`);
  const conv = await api.createConversation(a);
  const sa = AmsSocket.open(conv.magic_link, { credential: a.credential, WebSocket: WebSocket as unknown as WebSocketConstructor });
  const sb = AmsSocket.open(conv.magic_link, { credential: b.credential, WebSocket: WebSocket as unknown as WebSocketConstructor });
  await Promise.all([sa.joined, sb.joined]);
  sa.send('hello');
  const t = await sb.next((f) => f.type === 'token');
  expect(t).toMatchObject({ data: 'hello', stream_id: conv.stream_id });
  await sa.close(); await sb.close();
});
