/**
 * How a transcript looks in a terminal: `name: text`, the name in a colour of
 * its own on a terminal (never with `NO_COLOR`, `TERM=dumb` or when not a
 * terminal), peer text made safe with the broker's own rule (control
 * characters shown as stand-ins, line breaks indented), and on a terminal the
 * utterances still open shown growing below the finished ones.
 */
import { transcriptText } from '../protocol/transcript';
import type { Entry, MessageEntry } from '../protocol/utterances';

type Out = NodeJS.WriteStream | NodeJS.WritableStream;

export function colourOn(stream: Out, env: Record<string, string | undefined> = process.env): boolean {
  return Boolean((stream as NodeJS.WriteStream).isTTY) && !env.NO_COLOR && env.TERM !== 'dumb';
}

const PALETTE = [36, 33, 35, 32, 34, 31, 96, 93, 95, 92, 94, 91];

/** The same name always gets the same colour. */
export function paintName(name: string, colour: boolean): string {
  if (!colour) return name;
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return `\x1b[1;${PALETTE[h % PALETTE.length]}m${name}\x1b[0m`;
}

export const dim = (text: string, colour: boolean) => (colour ? `\x1b[2m${text}\x1b[0m` : text);

/** One entry as a line (without its line feed); null for what a transcript does not show. */
export function entryLine(e: Entry, colour: boolean): string | null {
  if (e.kind === 'joined' || e.kind === 'left') return dim(`${e.stream_name} ${e.kind}`, colour);
  if (e.kind !== 'message') return null;
  return `${paintName(e.stream_name, colour)}${e.continues ? ' (cont.)' : ''}: ${transcriptText(e.text)}`;
}

/** An open utterance on one terminal row: line breaks as ⏎, cut to the width. */
function openLine(e: MessageEntry, columns: number, colour: boolean): string {
  const text = transcriptText(e.text).replace(/\n {2}/g, ' ⏎ ');
  const room = Math.max(10, columns - e.stream_name.length - 4);
  const chars = [...text];
  const shown = chars.length > room ? `…${chars.slice(chars.length - room + 1).join('')}` : text;
  return `${paintName(e.stream_name, colour)}: ${dim(shown, colour)}`;
}

/**
 * Finished lines scroll up; below them, on a terminal, one row per open
 * utterance, redrawn in place as it grows. Each open row is cut to the
 * terminal's width so the rows to redraw are always exactly their number.
 */
export class TranscriptView {
  private openRows = 0;
  private open: MessageEntry[] = [];
  readonly colour: boolean;
  private readonly live: boolean;

  constructor(private readonly out: NodeJS.WriteStream, env: Record<string, string | undefined> = process.env) {
    this.colour = colourOn(out, env);
    this.live = Boolean(out.isTTY) && env.TERM !== 'dumb';
  }

  lines(lines: string[]): void {
    this.redraw(lines);
  }

  entries(entries: Entry[]): void {
    this.redraw(entries.map((e) => entryLine(e, this.colour)).filter((l): l is string => l !== null));
  }

  setOpen(open: MessageEntry[]): void {
    if (!this.live) return;
    this.open = open;
    this.redraw([]);
  }

  private redraw(lines: string[]): void {
    let text = '';
    if (this.live && this.openRows > 0) text += `\r\x1b[${this.openRows}A\x1b[J`;
    else if (this.live) text += '\r\x1b[J';
    for (const line of lines) text += `${line}\n`;
    if (this.live) {
      const columns = this.out.columns || 80;
      text += this.open.map((e) => `${openLine(e, columns, this.colour)}\n`).join('');
      this.openRows = this.open.length;
    }
    if (text !== '' && text !== '\r\x1b[J') this.out.write(text);
  }
}
