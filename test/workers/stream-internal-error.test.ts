import { env, runInDurableObject } from 'cloudflare:test';
import { expect, it, vi } from 'vitest';
import type { ConversationObject } from '../../src/conversation/conversation-object';
import { account, barrier, connect, isType, mint } from './support';

it('a fault while handling a frame closes only that socket with 4500 internal_error, logged with the conversation id', async () => {
  const a = await account();
  const b = await account();
  const c = await account();
  const conv = await mint(a);
  const victim = await connect(conv.magic_link, { credential: b.credential, headers: { 'X-AMS-Stream-Name': 'victim' } });
  const calm = await connect(conv.magic_link, { credential: a.credential });
  const listener = await connect(conv.magic_link, { credential: c.credential });
  await Promise.all([victim, calm, listener].map((s) => s.next(isType('joined'))));

  const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${a.namespace}/${conv.alias}`));
  const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
  const inObject = runInDurableObject as unknown as (s: unknown, f: (o: ConversationObject) => void) => Promise<void>;
  await inObject(stub, (instance) => {
    // Inject a fault into set_metadata only: the broker must contain it.
    instance.conv.setMetadata = () => {
      throw new Error('injected fault');
    };
  });
  victim.send({ type: 'set_metadata', metadata: { x: 1 } });
  expect(await victim.closed).toEqual({ code: 4500, reason: 'internal_error' });

  calm.send({ type: 'token', data: 'unaffected' });
  expect(await listener.next((f) => f.type === 'token')).toMatchObject({ data: 'unaffected' });
  await barrier(calm);
  const logged = errors.mock.calls.map((args) => args.map(String).join(' '));
  errors.mockRestore();
  // The reason never carries the fault; the log does, with the conversation's identity.
  expect(logged.some((line) => line.includes(conv.conversation_id) && line.includes('injected fault'))).toBe(true);
});
