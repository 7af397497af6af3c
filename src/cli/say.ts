/**
 * `ams say LINK [TEXT…]`: one utterance from the arguments; without them each
 * line of stdin is an utterance, sent as it is read; with `--stream` stdin is
 * sent as tokens as it arrives, each line break ending an utterance. Exits
 * once the broker has logged everything (every token receipted).
 */
import type { Readable } from 'node:stream';
import { usageError } from './errors';
import { parseLink } from './link';
import { endedError, Speaker } from './speaker';

/** Feeds text as it arrives: each line break ends an utterance, or (with `gapMs`) a quiet gap does. */
export class Streamer {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly speaker: Speaker, private readonly gapMs?: number) {}

  write(chunk: string): void {
    if (this.gapMs !== undefined) {
      this.speaker.write(chunk);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.speaker.end(), this.gapMs);
      return;
    }
    const lines = chunk.split(/\r?\n/);
    lines.forEach((part, i) => this.speaker.write(part, i < lines.length - 1));
  }

  end(): void {
    clearTimeout(this.timer);
    this.speaker.end();
  }
}

/** Reads `input` as UTF-8 text, chunk by chunk (a character is never split across chunks). */
export async function* textChunks(input: Readable): AsyncGenerator<string> {
  input.setEncoding('utf8');
  for await (const chunk of input) yield chunk as string;
}

export async function say(linkText: string, words: string[], opts: { stream?: boolean; as?: string }): Promise<number> {
  const link = parseLink(linkText);
  if (words.length > 0 && opts.stream) throw usageError('--stream reads stdin; give no TEXT with it');
  const speaker = await Speaker.join(link, { streamName: opts.as, kind: 'human' });
  const ended = speaker.ended.then((closed) => Promise.reject(endedError(closed)));
  const work = (async () => {
    if (words.length > 0) {
      speaker.say(words.join(' '));
    } else if (opts.stream) {
      const streamer = new Streamer(speaker);
      for await (const chunk of textChunks(process.stdin)) streamer.write(chunk);
      streamer.end();
    } else {
      let rest = '';
      for await (const chunk of textChunks(process.stdin)) {
        const lines = (rest + chunk).split(/\r?\n/);
        rest = lines.pop()!;
        for (const line of lines) if (line !== '') speaker.say(line);
      }
      if (rest !== '') speaker.say(rest);
    }
    await speaker.drain();
  })();
  await Promise.race([work, ended]);
  await speaker.close();
  return 0;
}
