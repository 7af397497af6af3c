/**
 * How frames become text on each wire format, and the broadcast loop: a
 * logged frame is serialized once, each format's text is built once, and the
 * same string goes to every sink of that format (decision 0052: a token's
 * canonical text is written directly, never re-serialized per subscriber).
 */
import type { LoggedFrame, ReceiptFrame } from '../protocol/frames';
import { Membership, Wire, type Audience } from './audience';
import type { Connection } from './connection';
import { withChain } from '../protocol/chain';
import type { LogRow } from './store';
import { passesJson } from '../protocol/subscription';

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

export function receipt(seq: number, id: string | undefined, chain: string, wire: Wire, duplicate: boolean, now: number): ReceiptFrame {
  const frame: ReceiptFrame = { type: 'x_receipt', seq, ts: new Date(now).toISOString() };
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

/** UTF-8 length of `text` without encoding it (a lone surrogate counts as U+FFFD's 3 bytes). */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}

/**
 * Sends `conn` the rows it hears, in order, until `budget` UTF-8 bytes have
 * gone (always at least one frame). False when a frame it hears was left
 * unsent: the caller closes it `replay_paused`, and its next `since` — the
 * last seq it received — continues exactly there (decisions/0101).
 */
export function replayWithin(conn: Connection, rows: Iterable<LogRow>, budget: number): boolean {
  const wire = conn.member.wire;
  const filter = conn.member.streams ?? null;
  let sent = 0;
  for (const row of rows) {
    if (!Membership.hears(conn.member, row.owner) || !passesJson(filter, row.frame)) continue;
    if (sent >= budget) return false;
    const text = encodeRow(wire, row);
    conn.send(text);
    sent += utf8Length(text);
  }
  return true;
}
