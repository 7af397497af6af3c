/**
 * Inputs and readers the limit tests share, in every runtime they run in
 * (Node unit tests, workerd tests, the chaos runner): deeply nested JSON, and
 * an SSE body read into events.
 */

/** `{"a":{"a":…{}}}` nested `depth` deep: about 6 bytes a level, far under 16 KiB at 2,000. */
export function nested(depth: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
}

/** `[[[…]]]` nested `depth` deep: 8 KiB at 4,000, the report's shape. */
export function brackets(depth: number): unknown[] {
  let v: unknown[] = [];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

export type SseEvent = { event: string; id?: number; data: string };

/** Reads an SSE body until it ends, or (cancelling it) until a token with id `until` has arrived. */
export async function readSse(res: Response, until = Infinity): Promise<SseEvent[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return events;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const lines = buffer.slice(0, end).split('\n');
      buffer = buffer.slice(end + 2);
      const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
      const event = field('event');
      if (!event) continue;
      const id = field('id');
      events.push({ event, id: id === undefined ? undefined : Number(id), data: field('data')! });
      if (event === 'token' && Number(id) >= until) {
        await reader.cancel();
        return events;
      }
    }
  }
}
