/**
 * `ams chat LINK`: a person in the conversation. The live transcript scrolls
 * above a prompt; each line typed is an utterance; `/who` lists who is here,
 * `/quit` (or Ctrl-D, Ctrl-C) leaves.
 */
import { createInterface, clearLine, cursorTo } from 'node:readline';
import type { ServerFrame } from '../client';
import { LIMITS } from '../protocol/limits';
import { transcriptText } from '../protocol/transcript';
import { Feed } from './feed';
import { parseLink } from './link';
import { colourOn, dim, entryLine, paintName } from './render';
import { endedError, Speaker } from './speaker';

interface Present {
  name: string;
  identity?: { kind?: string; client?: string };
}

export async function chat(linkText: string, opts: { as?: string }): Promise<number> {
  const link = parseLink(linkText);
  const out = process.stdout;
  const colour = colourOn(out);
  const terminal = Boolean(process.stdin.isTTY && out.isTTY);
  const rl = createInterface({ input: process.stdin, output: out, prompt: '> ', terminal });
  // Lines arriving while someone types go above the prompt, and the typing is kept.
  const show = (lines: string[]) => {
    if (lines.length === 0) return;
    if (terminal) {
      cursorTo(out, 0);
      clearLine(out, 0);
    }
    out.write(`${lines.join('\n')}\n`);
    if (terminal) rl.prompt(true);
  };
  const present = new Map<string, Present>();
  let feed: Feed | undefined;
  const onFrame = (f: ServerFrame) => {
    if (f.type === 'joined') {
      present.clear();
      for (const p of f.peers) present.set(p.stream_id, { name: p.stream_name, identity: (p as { identity?: Present['identity'] }).identity });
    } else if (f.type === 'stream_joined') present.set(f.stream_id, { name: f.stream_name, identity: (f as { identity?: Present['identity'] }).identity });
    else if (f.type === 'stream_left') present.delete(f.stream_id);
    feed?.frame(f);
  };
  let speaker: Speaker;
  try {
    speaker = await Speaker.join(link, {
      streamName: opts.as,
      kind: 'human',
      onFrame,
      onConnection: (state) => show([dim(state === 'lost' ? '-- connection lost; reconnecting…' : '-- connected again', colour)]),
    });
  } catch (err) {
    rl.close();
    throw err;
  }
  feed = new Feed(Number(speaker.info.utterance_gap_ms ?? LIMITS.utteranceGapDefaultMs), speaker.joined.seq, {
    onEntries: (entries) => show(entries.map((e) => entryLine(e, colour)).filter((l): l is string => l !== null)),
  });
  show([dim(`-- in ${link.namespace}/${link.alias} as ${speaker.streamName}; /who lists who is here, /quit leaves`, colour)]);
  rl.prompt();

  const who = () => {
    const names = [...present.values()].map((p) => {
      const id = p.identity?.kind ? dim(` (${transcriptText([p.identity.kind, p.identity.client].filter(Boolean).join(', '))})`, colour) : '';
      return `  ${paintName(p.name, colour)}${id}`;
    });
    return [dim(`-- ${present.size + 1} here:`, colour), `  ${paintName(speaker.streamName, colour)} ${dim('(you)', colour)}`, ...names];
  };

  const left = new Promise<void>((resolve) => {
    rl.on('line', (line) => {
      const text = line.trim();
      if (text === '/quit') return rl.close();
      if (text === '/who') show(who());
      else if (text.startsWith('/')) show([dim('-- /who lists who is here, /quit leaves; anything else is said', colour)]);
      else if (text !== '') speaker.say(line);
      if (terminal) rl.prompt();
    });
    rl.on('close', resolve);
    rl.on('SIGINT', () => rl.close());
  });
  const ended = speaker.ended.then((closed) => Promise.reject(endedError(closed)));
  try {
    await Promise.race([left, ended]);
    await Promise.race([speaker.drain(), ended]);
  } finally {
    feed.stop();
    rl.close();
    await speaker.close();
  }
  return 0;
}
