/**
 * The command line's long-running participants, end to end against a real
 * broker: `ams pipe` making plain programs (`tr`, `cat`, a shell loop) speak
 * in a conversation, and `ams chat` driven through a pseudo-terminal
 * (util-linux `script`), as a person at a terminal would use it.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { AmsSocket, ServerFrame } from '../../src/client';
import { ams, BIN, buildCli, cliEnv, Live } from './cli-support';
import { accounts, open, uniqueNs, sharedBroker, waitFor } from './support';

// Every step starts a node process; on a busy machine a test of several takes minutes.
vi.setConfig({ testTimeout: 180_000 });

const e2e = sharedBroker();
beforeAll(buildCli);

async function conversation() {
  const env = cliEnv();
  expect((await ams(['account', 'create', uniqueNs('cli'), '--host', e2e.broker.url], { env })).code).toBe(0);
  const minted = await ams(['mint', '--host', e2e.broker.url], { env });
  const [link] = minted.stdout.trim().split('\n');
  const [b] = await accounts(e2e.api, 1);
  const peer = open(link!, { credential: b!.credential, streamName: 'asker', receipts: true });
  await peer.joined;
  return { env, link: link!, peer };
}

/** Completed utterances of `name` a socket heard (token runs ending `end: true`). */
function heard(frames: ServerFrame[], name: string): string[] {
  const out: string[] = [];
  let text = '';
  for (const f of frames) {
    if (f.type !== 'token' || f.stream_name !== name) continue;
    text += f.data;
    if (f.end) {
      out.push(text);
      text = '';
    }
  }
  return out;
}

const joinedAs = (peer: AmsSocket, name: string) => waitFor(() => peer.frames.some((f) => f.type === 'stream_joined' && f.stream_name === name), 20_000, `${name} to join`);

describe('ams pipe', () => {
  it('round-trips through tr: a peer speaks and hears the program answer, one utterance per line', async () => {
    const { env, link, peer } = await conversation();
    // tr block-buffers a pipe; stdbuf makes it write each line as it goes, as an interactive program does.
    const pipe = Live.start(['pipe', link, '--as', 'upper', '--', 'stdbuf', '-oL', 'tr', 'a-z', 'A-Z'], env);
    await joinedAs(peer, 'upper');
    peer.send('hello ');
    peer.send('pipe\nover two lines', { end: true });
    await waitFor(() => heard(peer.frames, 'upper').length >= 1, 20_000, 'the answer');
    peer.send('again', { end: true });
    await waitFor(() => heard(peer.frames, 'upper').length >= 2, 20_000, 'the second answer');
    expect(heard(peer.frames, 'upper')).toEqual(['HELLO PIPE OVER TWO LINES', 'AGAIN']);
    await pipe.stop();
    await peer.close();
  });

  it('--json gives the program one JSON object per utterance; the program exiting ends the pipe with its status', async () => {
    const { env, link, peer } = await conversation();
    const pipe = Live.start(['pipe', link, '--json', '--as', 'echo', '--', 'sh', '-c', 'read -r line; printf "%s\\n" "$line"; exit 3'], env);
    await joinedAs(peer, 'echo');
    peer.send('line one\nline two', { end: true });
    expect(await pipe.exited).toBe(1);
    const [answer] = heard(peer.frames, 'echo');
    expect(JSON.parse(answer!)).toMatchObject({ kind: 'message', stream_name: 'asker', text: 'line one\nline two', complete: true });
    await peer.close();
  });

  it('--gap ends an utterance on a quiet gap, so a several-line answer is one utterance', async () => {
    const { env, link, peer } = await conversation();
    const pipe = Live.start(['pipe', link, '--gap', '300', '--as', 'poet', '--', 'sh', '-c', 'while read l; do echo "roses $l"; echo "violets $l"; done'], env);
    await joinedAs(peer, 'poet');
    peer.send('red', { end: true });
    await waitFor(() => heard(peer.frames, 'poet').length >= 1, 20_000, 'the poem');
    expect(heard(peer.frames, 'poet')).toEqual(['roses red\nviolets red\n']);
    await pipe.stop();
    await peer.close();
  });

  it('a program that cannot be run: one line, exit 1', async () => {
    const { env, link, peer } = await conversation();
    const r = await ams(['pipe', link, '--', 'no-such-program-here'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('ams: cannot run no-such-program-here: ENOENT');
    const none = await ams(['pipe', link], { env });
    expect(none.code).toBe(2);
    await peer.close();
  });
});

describe('ams chat', () => {
  // Escape sequences (colour, prompt redraws) and the terminal's carriage returns removed.
  const plain = (text: string) => text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

  it('works through a pseudo-terminal: hears peers above the prompt, says each typed line, /who, /quit', async () => {
    const { env, link, peer } = await conversation();
    const command = `'${process.execPath}' '${BIN}' chat '${link}' --as me`;
    const chat = Live.start([], { ...env, TERM: 'xterm-256color', COLUMNS: '100' }, ['script', '-q', '-e', '-c', command, '/dev/null']);
    await waitFor(() => plain(chat.stdout).includes('-- in '), 20_000, `the chat to start: ${chat.stdout}${chat.stderr}`);
    await joinedAs(peer, 'me');

    peer.send('hi from ', {});
    peer.send('a peer', { end: true });
    await waitFor(() => plain(chat.stdout).includes('asker: hi from a peer'), 20_000, `the peer in the chat: ${plain(chat.stdout)}`);
    // On a terminal the speaker's name is in colour.
    expect(chat.stdout).toMatch(/\x1b\[1;\d+masker\x1b\[0m: hi from a peer/);

    chat.child.stdin.write('hello from the terminal\r');
    await waitFor(() => heard(peer.frames, 'me').length >= 1, 20_000, 'the typed line');
    expect(heard(peer.frames, 'me')).toEqual(['hello from the terminal']);

    chat.child.stdin.write('/who\r');
    await waitFor(() => /-- 2 here:[\s\S]*me \(you\)[\s\S]*asker/.test(plain(chat.stdout)), 20_000, `/who: ${plain(chat.stdout)}`);

    chat.child.stdin.write('/quit\r');
    expect(await chat.exited).toBe(0);
    await waitFor(() => peer.frames.some((f) => f.type === 'stream_left' && f.stream_name === 'me'), 20_000, 'me to leave');
    await peer.close();
  });

  it('NO_COLOR keeps the terminal free of colour', async () => {
    const { env, link, peer } = await conversation();
    const command = `'${process.execPath}' '${BIN}' chat '${link}' --as plain`;
    const chat = Live.start([], { ...env, TERM: 'xterm-256color', NO_COLOR: '1' }, ['script', '-q', '-e', '-c', command, '/dev/null']);
    await joinedAs(peer, 'plain');
    peer.send('no colours please', { end: true });
    await waitFor(() => plain(chat.stdout).includes('asker: no colours please'), 20_000, 'the line');
    expect(chat.stdout).not.toMatch(/\x1b\[[0-9;]*m/);
    chat.child.stdin.write('/quit\r');
    expect(await chat.exited).toBe(0);
    await peer.close();
  });
});
