/**
 * `ams pipe LINK -- CMD [ARGS…]`: a program as a participant. Each completed
 * utterance of a peer goes to its stdin as one line (line breaks inside it
 * written as spaces), or as one JSON object per line with `--json`; its stdout
 * is spoken as tokens as it arrives, each line ending an utterance, or with
 * `--gap MS` each quiet gap. Runs until the program exits; its stderr passes
 * through. Exit status 0 when the program exits 0, else 1.
 */
import { spawn } from 'node:child_process';
import { LIMITS } from '../protocol/limits';
import { CliError, usageError } from './errors';
import { Feed } from './feed';
import { parseLink } from './link';
import { Streamer, textChunks } from './say';
import { endedError, Speaker } from './speaker';

export async function pipe(linkText: string, command: string[], opts: { json?: boolean; gap?: number; as?: string }): Promise<number> {
  const link = parseLink(linkText);
  const [program, ...args] = command;
  if (!program) throw usageError('give the program to run after --, e.g. ams pipe LINK -- tr a-z A-Z');
  let feed: Feed | undefined;
  const speaker = await Speaker.join(link, { streamName: opts.as, kind: 'agent', onFrame: (f) => feed?.frame(f) });
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  // The program may stop reading or exit early; what it no longer reads is dropped, not a crash.
  child.stdin.on('error', () => {});
  feed = new Feed(Number(speaker.info.utterance_gap_ms ?? LIMITS.utteranceGapDefaultMs), speaker.joined.seq, {
    onEntries: (entries) => {
      for (const e of entries) {
        if (e.kind !== 'message' || !child.stdin.writable) continue;
        child.stdin.write(`${opts.json ? JSON.stringify(e) : e.text.replace(/\r\n|\r|\n/g, ' ')}\n`);
      }
    },
  });
  const streamer = new Streamer(speaker, opts.gap);
  const spoken = (async () => {
    for await (const chunk of textChunks(child.stdout)) streamer.write(chunk);
    streamer.end();
  })();
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', (err) => reject(new CliError(`cannot run ${program}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
    child.on('close', (code) => resolve(code ?? 1));
  });
  const ended = speaker.ended.then((closed) => Promise.reject(endedError(closed)));
  try {
    const code = await Promise.race([exited, ended]);
    await spoken;
    await Promise.race([speaker.drain(), ended]);
    return code === 0 ? 0 : 1;
  } finally {
    feed.stop();
    if (child.exitCode === null) child.kill();
    await speaker.close();
  }
}
