/**
 * The SSE wire as strict clients parse it: every block that carries a field
 * is an event with data (a lone `retry:` block is surfaced as an empty event
 * by some clients), and a cursor past the head is refused for that reason.
 */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { account, barrier, connect, isType, mint, route } from './support';

/** Reads raw SSE blocks (split on a blank line) until `until` says stop. */
async function readBlocks(res: Response, until: (blocks: string[]) => boolean): Promise<string[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const blocks: string[] = [];
  while (!until(blocks)) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      blocks.push(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
    }
  }
  await reader.cancel();
  return blocks;
}

describe('GET …/events wire', () => {
  it('sends retry: with the first event, never as a block of its own', async () => {
    const a = await account();
    const conv = await mint(a);
    const emitter = await connect(conv.magic_link, { credential: a.credential });
    await emitter.next(isType('joined'));
    emitter.send({ type: 'token', data: 'one' });
    await barrier(emitter);
    const res = await SELF.fetch(route(conv.observer_link, 'events', { since: '0' }), { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    const blocks = await readBlocks(res, (b) => b.filter((x) => x.includes('\ndata: ') || x.startsWith('data: ')).length >= 3);
    const fielded = blocks.filter((b) => b.split('\n').some((line) => line !== '' && !line.startsWith(':')));
    for (const block of fielded) expect(block, block).toMatch(/(^|\n)data: /);
    expect(fielded[0].split('\n')[0]).toBe('retry: 2000');
    expect(fielded[0]).toContain('event: joined');
    expect(blocks.join('\n\n').match(/retry: /g)).toHaveLength(1);
  });

  it('refuses a Last-Event-ID or since beyond the head with the head in the message', async () => {
    const a = await account();
    const conv = await mint(a);
    const emitter = await connect(conv.magic_link, { credential: a.credential });
    await emitter.next(isType('joined'));
    emitter.send({ type: 'token', data: 'x' });
    await barrier(emitter);
    const byHeader = await SELF.fetch(route(conv.observer_link, 'events'), { headers: { accept: 'text/event-stream', 'last-event-id': '99' } });
    expect(byHeader.status).toBe(400);
    expect(await byHeader.json()).toEqual({ error: 'invalid_cursor', message: 'since is beyond the head (2).' });
    const byQuery = await SELF.fetch(route(conv.observer_link, 'events', { since: '3' }));
    expect(await byQuery.json()).toEqual({ error: 'invalid_cursor', message: 'since is beyond the head (2).' });
    const malformed = await SELF.fetch(route(conv.observer_link, 'events'), { headers: { 'last-event-id': 'abc' } });
    expect(await malformed.json()).toMatchObject({ error: 'invalid_cursor', message: expect.stringContaining('non-negative integers') });
  });
});
