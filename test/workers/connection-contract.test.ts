/**
 * The `Connection` contract (src/conversation/connection.ts), one suite run
 * against all three kinds — a WebSocket, an SSE tail and an MCP membership —
 * in real workerd, each through its own public transport:
 *
 * - joined first, then every frame it hears in seq order, each exactly once;
 * - the broker's close reaches it with its reason, and nothing follows it;
 * - hibernation keeps what the kind's state says it keeps (WebSocket and MCP
 *   membership carry on across an eviction).
 */
import { env, evictDurableObject, runInDurableObject, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Env } from '../../src/control/env';
import type { ConversationObject } from '../../src/conversation/conversation-object';
import { account, barrier, connect, isType, mint, route, type TestSocket } from './support';
import { openSession } from './mcp-support';

const bindings = env as unknown as Env;
const inObject = runInDurableObject as unknown as <R>(s: unknown, f: (o: ConversationObject) => R | Promise<R>) => Promise<R>;

type Heard = { type: string; seq?: number; data?: string };

/** A subscriber of one kind, admitted with the observer link, seen from outside. */
interface Subscriber {
  /** Whether it was told `joined` before anything else (the MCP result of ams_join plays that part). */
  joinedFirst(): boolean;
  /** Logged frames heard so far, in arrival order, once `n` of them arrived. */
  heard(n: number): Promise<Heard[]>;
  /** The reason the broker closed it with. */
  closedWith(): Promise<string>;
  /** Frames heard after the close (must stay empty). */
  after(): Promise<Heard[]>;
  end(): Promise<void>;
}

const LOGGED = new Set(['token', 'stream_joined', 'stream_left', 'stream_metadata']);

async function webSocket(link: string): Promise<Subscriber> {
  const s: TestSocket = await connect(link);
  await s.next(isType('joined'));
  let closedAt = -1;
  const logged = () => s.frames.filter((f) => LOGGED.has(f.type)) as Heard[];
  return {
    joinedFirst: () => s.frames[0]?.type === 'joined',
    heard: async (n) => {
      await s.count((f) => LOGGED.has(f.type), n);
      return logged();
    },
    closedWith: async () => {
      const c = await s.closed;
      closedAt = logged().length;
      return c.reason;
    },
    after: async () => logged().slice(closedAt),
    end: async () => s.close(),
  };
}

async function sse(link: string): Promise<Subscriber> {
  const res = await SELF.fetch(route(link, 'events'), { headers: { accept: 'text/event-stream' } });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: { event: string; data: Record<string, unknown> }[] = [];
  let text = '';
  let done = false;
  const pull = async () => {
    const chunk = await reader.read();
    if (chunk.done) {
      done = true;
      return;
    }
    text += decoder.decode(chunk.value, { stream: true });
    let cut: number;
    while ((cut = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, cut);
      text = text.slice(cut + 2);
      const event = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
  };
  const until = async (ok: () => boolean) => {
    while (!ok()) {
      if (done) throw new Error(`the SSE stream ended: ${JSON.stringify(events.slice(-3))}`);
      await pull();
    }
  };
  await until(() => events.length > 0);
  const logged = () => events.filter((e) => LOGGED.has(e.event)).map((e) => e.data as Heard);
  let closeIndex = -1;
  return {
    joinedFirst: () => events[0].event === 'joined',
    heard: async (n) => {
      await until(() => logged().length >= n);
      return logged();
    },
    closedWith: async () => {
      await until(() => events.some((e) => e.event === 'close'));
      closeIndex = events.findIndex((e) => e.event === 'close');
      return events[closeIndex].data.reason as string;
    },
    after: async () => {
      // The stream ends after the close event.
      await until(() => done).catch(() => {});
      expect(done).toBe(true);
      return events.slice(closeIndex + 1).filter((e) => LOGGED.has(e.event)).map((e) => e.data as Heard);
    },
    end: () => reader.cancel(),
  };
}

async function mcpMember(link: string): Promise<Subscriber> {
  const m = await openSession(link);
  const joined = await m.ok('ams_join');
  expect(joined.scope).toBe('read');
  const got: Heard[] = [];
  let ended: string | undefined;
  const recv = async (wait_ms: number) => {
    const r = await m.call('ams_recv', { wait_ms, format: 'frames' });
    if (r.isError) {
      ended = r.value.error as string;
      return;
    }
    got.push(...(r.value.frames as Heard[]).filter((f) => LOGGED.has(f.type)));
  };
  return {
    joinedFirst: () => joined.seq !== undefined && got.length === 0,
    heard: async (n) => {
      const deadline = Date.now() + 5_000;
      while (got.length < n && !ended && Date.now() < deadline) await recv(2_000);
      return got;
    },
    closedWith: async () => {
      while (!ended) await recv(2_000);
      return ended;
    },
    after: async () => {
      const before = got.length;
      await recv(0);
      return got.slice(before);
    },
    end: async () => {
      await m.del();
    },
  };
}

const KINDS: [string, (link: string) => Promise<Subscriber>][] = [
  ['WebSocket', webSocket],
  ['SSE tail', sse],
  ['MCP membership', mcpMember],
];

async function setting() {
  const owner = await account('contract');
  const conv = await mint(owner);
  const stub = bindings.CONVERSATIONS.get(bindings.CONVERSATIONS.idFromName(`${owner.namespace}/${conv.alias}`));
  return { owner, conv, stub };
}

function inOrderOnce(frames: Heard[]): void {
  const seqs = frames.map((f) => f.seq!);
  expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1])).toBe(true);
  expect(new Set(seqs).size).toBe(seqs.length);
}

describe.each(KINDS)('the Connection contract: %s', (_kind, open) => {
  it('joined first, then every frame it hears, in seq order, exactly once', async () => {
    const { owner, conv } = await setting();
    const sub = await open(conv.observer_link);
    expect(sub.joinedFirst()).toBe(true);
    const writer = await connect(conv.magic_link, { credential: owner.credential });
    await writer.next(isType('joined'));
    for (let i = 0; i < 40; i++) writer.send({ type: 'token', data: `t${i}` });
    await barrier(writer);
    // stream_joined of the writer, then its 40 tokens.
    const heard = await sub.heard(41);
    expect(heard[0]).toMatchObject({ type: 'stream_joined' });
    expect(heard.filter((f) => f.type === 'token').map((f) => f.data)).toEqual(Array.from({ length: 40 }, (_, i) => `t${i}`));
    inOrderOnce(heard);
    writer.close();
    await sub.end();
  });

  it('the broker closes it with a reason (rotation), and nothing is sent after', async () => {
    const { owner, conv, stub } = await setting();
    const sub = await open(conv.observer_link);
    const writer = await connect(conv.magic_link, { credential: owner.credential });
    await writer.next(isType('joined'));
    await sub.heard(1);
    await inObject(stub, (o) => o.rotate());
    expect(await sub.closedWith()).toBe('invalid_magic_link');
    // The conversation goes on (an emit logged after the rotation); the closed subscriber hears none of it.
    const seq = await inObject(stub, (o) => {
      const choice = o.conv.streamForEmit(owner.account_id, 'after-close');
      if (!choice.ok) throw new Error(choice.reason);
      const out = o.conv.emit(choice.stream, { data: 'after the close' });
      return out.ok ? out.seq : -1;
    });
    expect(seq).toBeGreaterThan(0);
    expect(await sub.after()).toEqual([]);
    await sub.end();
  });
});

describe.each(KINDS.filter(([kind]) => kind !== 'SSE tail'))('the Connection contract across hibernation: %s', (_kind, open) => {
  it('keeps hearing, in order, after the object is evicted', async () => {
    const { owner, conv, stub } = await setting();
    const sub = await open(conv.observer_link);
    const writer = await connect(conv.magic_link, { credential: owner.credential });
    await writer.next(isType('joined'));
    writer.send({ type: 'token', data: 'before' });
    await sub.heard(2);
    await evictDurableObject(stub);
    writer.send({ type: 'token', data: 'after' });
    const heard = await sub.heard(3);
    expect(heard.filter((f) => f.type === 'token').map((f) => f.data)).toEqual(['before', 'after']);
    inOrderOnce(heard);
    writer.close();
    await sub.end();
  });
});
