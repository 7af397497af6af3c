/**
 * How frames become text on each wire format, and the broadcast loop: a
 * logged frame is serialized once, each format's text is built once, and the
 * same string goes to every sink of that format (decision 0052: a token's
 * canonical text is written directly, never re-serialized per subscriber).
 */
import type { LoggedFrame, ReceiptFrame } from '../protocol/frames';
import { Wire, type Audience } from './audience';
import { withChain } from '../protocol/chain';
import type { LogRow } from './store';

const ssePrefix = (seq: number, type: string) => `id: ${seq}\nevent: ${type}\ndata: `;

export const carriesChain = (wire: Wire): boolean => wire === Wire.JsonChain || wire === Wire.SseChain;

/** Hands one logged frame (`json` is its serialization) to its audience, each format encoded once. */
export function broadcast(groups: Audience, frame: LoggedFrame, json: string, chain: string): void {
  if (groups[Wire.Json].length > 0) for (const sink of groups[Wire.Json]) sink.send(json, frame);
  if (groups[Wire.JsonChain].length > 0) {
    const text = withChain(json, chain);
    for (const sink of groups[Wire.JsonChain]) sink.send(text, frame);
  }
  if (groups[Wire.Sse].length > 0) {
    const text = `${ssePrefix(frame.seq, frame.type)}${json}\n\n`;
    for (const sink of groups[Wire.Sse]) sink.send(text, frame);
  }
  if (groups[Wire.SseChain].length > 0) {
    const text = `${ssePrefix(frame.seq, frame.type)}${withChain(json, chain)}\n\n`;
    for (const sink of groups[Wire.SseChain]) sink.send(text, frame);
  }
}

export function receipt(seq: number, id: string | undefined, chain: string, wire: Wire, duplicate: boolean): ReceiptFrame {
  const frame: ReceiptFrame = { type: 'x_receipt', seq };
  if (id !== undefined) frame.id = id;
  if (carriesChain(wire)) frame.chain = chain;
  if (duplicate) frame.duplicate = true;
  return frame;
}

/** Encodes an unlogged frame (joined, receipts, truncation notices) for a wire format. */
export function encodeFrame(wire: Wire, frame: object & { type: string }): string {
  const json = JSON.stringify(frame);
  return wire === Wire.Sse || wire === Wire.SseChain ? `event: ${frame.type}\ndata: ${json}\n\n` : json;
}

/** Encodes a logged row for a wire format (replay path). */
export function encodeRow(wire: Wire, row: LogRow): string {
  const json = carriesChain(wire) ? withChain(row.frame, row.chain) : row.frame;
  if (wire === Wire.Json || wire === Wire.JsonChain) return json;
  const type = /^\{"type":"([a-z_]+)"/.exec(row.frame)?.[1] ?? 'message';
  return `${ssePrefix(row.seq, type)}${json}\n\n`;
}
