import { afterAll, beforeAll, expect, it } from 'vitest';
import { AmsClient, ResumingSocket, type ServerFrame } from '../../src/client';
import { startBroker, type Broker } from '../support/broker';
import { accounts, NodeWebSocket, open, waitFor } from './support';

let broker: Broker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker?.stop();
});

it('ResumingSocket reconnects after the broker dies and delivers every token once, in order', async () => {
  const api = new AmsClient(broker.url);
  const [a, b] = await accounts(api, 2);
  const conv = await api.createConversation(a);
  const got: ServerFrame[] = [];
  const statuses: string[] = [];
  const reader = new ResumingSocket(conv.magic_link, { credential: b.credential, streamName: 'reader', WebSocket: NodeWebSocket }, {
    onFrame: (f) => got.push(f),
    onStatus: (s) => statuses.push(s),
  }, () => 200).start();
  await waitFor(() => statuses.includes('live'));

  let emitter = open(conv.magic_link, { credential: a.credential, receipts: true });
  await emitter.joined;
  for (let i = 0; i < 50; i++) emitter.send(`a${i}`);
  await waitFor(() => emitter.frames.filter((f) => f.type === 'x_receipt').length === 50);

  await broker.kill();
  broker = await startBroker({ stateDir: broker.stateDir, port: broker.port });
  emitter = open(conv.magic_link, { credential: a.credential, receipts: true });
  await emitter.joined;
  for (let i = 0; i < 50; i++) emitter.send(`b${i}`);

  const tokens = () => got.filter((f) => f.type === 'token').map((f) => (f as { data: string }).data);
  await waitFor(() => tokens().length >= 100, 30_000, '100 tokens');
  expect(tokens()).toEqual([...Array.from({ length: 50 }, (_, i) => `a${i}`), ...Array.from({ length: 50 }, (_, i) => `b${i}`)]);
  expect(reader.reconnects).toBeGreaterThanOrEqual(1);
  const seqs = got.filter((f) => 'seq' in f && f.type !== 'joined').map((f) => (f as { seq: number }).seq);
  expect(new Set(seqs).size).toBe(seqs.length);
  reader.close();
  await emitter.close();
});
