/**
 * `ams tail LINK`: the transcript as it happens, over the SSE tail (read scope
 * is enough, so any link works and no credential is needed). One line per
 * completed utterance; on a terminal, open utterances grow below them. The
 * tail reconnects and resumes from the last seq it showed, so a drop neither
 * repeats nor loses a line.
 */
import { EventTail, type ServerFrame, type TailEnd } from '../client';
import { LIMITS } from '../protocol/limits';
import { transcriptText } from '../protocol/transcript';
import { CliError, closedError, EXIT } from './errors';
import { Feed } from './feed';
import { parseLink } from './link';
import { dim, paintName, TranscriptView } from './render';
import { inspectLink } from './speaker';

export interface TailOptions {
  since?: number;
  frames?: boolean;
  subscribe?: string;
  json?: boolean;
}

/** `--frames` without `--json`: one line per frame. */
function frameLine(f: ServerFrame, colour: boolean): string | null {
  switch (f.type) {
    case 'token':
      return `${dim(`[${f.seq}]`, colour)} ${paintName(f.stream_name, colour)}: ${transcriptText(f.data)}${f.end ? dim(' ⏎', colour) : ''}`;
    case 'stream_joined':
    case 'stream_left':
      return dim(`[${f.seq}] ${f.stream_name} ${f.type === 'stream_joined' ? 'joined' : 'left'}`, colour);
    case 'stream_metadata':
      return dim(`[${f.seq}] ${f.stream_name} metadata ${transcriptText(JSON.stringify(f.metadata))}`, colour);
    default:
      return null;
  }
}

/** Runs until the conversation ends or the tail is refused; returns the exit status. */
export async function tail(linkText: string, opts: TailOptions): Promise<number> {
  const link = parseLink(linkText);
  const info = (await inspectLink(link)) as { utterance_gap_ms?: number };
  const view = new TranscriptView(process.stdout);
  const out = (line: string) => view.lines([line]);
  const feed = new Feed(info.utterance_gap_ms ?? LIMITS.utteranceGapDefaultMs, opts.since, {
    onEntries: (entries) => {
      if (opts.json) for (const e of entries) out(JSON.stringify(e));
      else view.entries(entries);
    },
    onOpen: (open) => {
      if (!opts.json) view.setOpen(open);
    },
  });
  const params: Record<string, string> = {};
  // Brokers that filter by stream read it; the filter is also applied here, so older ones are narrowed too.
  const only = opts.subscribe ? new Set(opts.subscribe.split(',').map((s) => s.trim()).filter(Boolean)) : undefined;
  if (only) params.subscribe_streams = [...only].join(',');
  let lost = false;
  const events = new EventTail(link.url, { since: opts.since, params, failFast: true }, {
    onFrame: (f) => {
      if (f.type === 'x_truncated') {
        out(opts.json ? JSON.stringify(f) : `-- seq ${f.from_seq}–${f.to_seq} is no longer kept and cannot be shown`);
        return;
      }
      if (only && (f.type === 'token' || f.type === 'stream_metadata') && !only.has(f.stream_name)) return;
      if (opts.frames) {
        const line = opts.json ? (f.type === 'joined' ? null : JSON.stringify(f)) : frameLine(f, view.colour);
        if (line !== null) out(line);
        return;
      }
      feed.frame(f);
    },
    onStatus: (status) => {
      if (status === 'connecting' && lost) return;
      if (status === 'connecting' && events.reconnects > 0) {
        lost = true;
        process.stderr.write(`ams: connection lost; resuming after seq ${events.lastSeq}…\n`);
      } else if (status === 'live' && lost) {
        lost = false;
        process.stderr.write('ams: connected again\n');
      }
    },
  });
  events.start();
  const end: TailEnd = await events.ended;
  feed.flush();
  feed.stop();
  return finish(end, out);
}

function finish(end: TailEnd, out: (line: string) => void): number {
  switch (end.kind) {
    case 'stopped':
      return EXIT.ok;
    case 'closed':
      if (end.reason === 'conversation_closed') {
        out('-- closed: conversation_closed');
        return EXIT.ok;
      }
      throw closedError(end.code, end.reason);
    case 'refused':
      throw end.error;
    case 'unreachable':
      throw new CliError(`cannot reach the broker (${end.cause})`);
  }
}
