/**
 * Reading Server-Sent Events as the broker writes them (PROTOCOL.md §6):
 * blocks separated by a blank line, `id:` the seq, `event:` the frame type,
 * `data:` the frame JSON; comment lines (`: keep-alive`) carry nothing.
 */

export interface SseEvent {
  event: string;
  /** The seq, on logged frames. */
  id?: number;
  data: string;
}

/** One block (without its blank line) as an event; null for a block that carries no data (a comment). */
export function parseSseBlock(block: string): SseEvent | null {
  let event = 'message';
  let id: number | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event: ')) event = line.slice(7);
    else if (line.startsWith('data: ')) data.push(line.slice(6));
    else if (line.startsWith('id: ')) id = Number(line.slice(4));
  }
  return data.length > 0 ? { event, ...(id !== undefined && Number.isSafeInteger(id) ? { id } : {}), data: data.join('\n') } : null;
}

/** Splits buffered text into complete blocks; returns the events and what is left for the next chunk. */
export function takeSseEvents(buffered: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  let cut: number;
  while ((cut = buffered.indexOf('\n\n')) !== -1) {
    const ev = parseSseBlock(buffered.slice(0, cut));
    buffered = buffered.slice(cut + 2);
    if (ev) events.push(ev);
  }
  return { events, rest: buffered };
}
