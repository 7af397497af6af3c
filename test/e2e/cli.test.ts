/**
 * The command line end to end: the built bin (dist/ams.js) run with node, as a
 * user runs it, against a real broker — accounts, mint, say, tail across a
 * dropped connection, inspect.
 */
import { readFileSync, statSync } from 'node:fs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { ServerFrame } from '../../src/client';
import { freePort } from '../support/broker';
import { ams, buildCli, cliEnv, CuttableProxy, Live } from './cli-support';
import { accounts, open, uniqueNs, sharedBroker, waitFor } from './support';

// Every step starts a node process; on a busy machine a test of several takes minutes.
vi.setConfig({ testTimeout: 180_000 });

const e2e = sharedBroker();
beforeAll(buildCli);

/** A CLI user with an account on the broker, and a conversation they minted. */
async function user() {
  const env = cliEnv();
  const ns = uniqueNs('cli');
  const created = await ams(['account', 'create', ns, '--host', e2e.broker.url], { env });
  expect(created.code, created.stderr).toBe(0);
  const minted = await ams(['mint', '--host', e2e.broker.url], { env });
  expect(minted.code, minted.stderr).toBe(0);
  const [link, observer] = minted.stdout.trim().split('\n');
  return { env, ns, link: link!, observer: observer! };
}

/** Waits until the broker counts `n` read-only listeners (an SSE tail is one once it is live). */
async function listening(link: string, n: number): Promise<void> {
  const listeners = async () => ((await e2e.api.inspectWithLink(link)) as { audience: { listeners: number } }).audience.listeners;
  const deadline = Date.now() + 20_000;
  while ((await listeners()) < n) {
    if (Date.now() > deadline) throw new Error(`never ${n} listeners`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Completed utterances a socket heard: `name: text` for each token run ending `end: true`. */
function utterances(frames: ServerFrame[]): string[] {
  const out: string[] = [];
  const open = new Map<string, string>();
  for (const f of frames) {
    if (f.type !== 'token') continue;
    const text = (open.get(f.stream_name) ?? '') + f.data;
    if (f.end) {
      out.push(`${f.stream_name}: ${text}`);
      open.delete(f.stream_name);
    } else open.set(f.stream_name, text);
  }
  return out;
}

describe('ams account and mint', () => {
  it('saves the credential 0600, mints with it, and never overwrites a saved account', async () => {
    const { env, ns, link, observer } = await user();
    const file = env.AMS_CONFIG!;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')).accounts[e2e.broker.url];
    expect(saved.namespace).toBe(ns);
    expect(saved.credential).toMatch(/^ams_sk_/);
    expect(link).toMatch(new RegExp(`^${e2e.broker.url}/${ns}/conversations/[a-z0-9-]+\\?t=w`));
    expect(observer).toMatch(/\?t=r/);

    const again = await ams(['account', 'create', uniqueNs('cli'), '--host', e2e.broker.url], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^ams: .*already holds the account/);
    expect(JSON.parse(readFileSync(file, 'utf8')).accounts[e2e.broker.url].credential).toBe(saved.credential);

    const printed = await ams(['account', 'create', uniqueNs('cli'), '--host', e2e.broker.url, '--print'], { env });
    expect(printed.code).toBe(0);
    expect(printed.stdout.trim()).toMatch(/^ams_sk_[a-z0-9-]+\.[A-Za-z0-9_-]{43}$/);

    // AMS_CREDENTIAL wins over the file; --alias and --json pass through.
    const purpose = 'Review the pull request, then say done.';
    const other = await ams(['mint', '--host', e2e.broker.url, '--alias', 'chosen', '--instructions', purpose, '--json'], { env: { ...env, AMS_CREDENTIAL: printed.stdout.trim() } });
    expect(other.code, other.stderr).toBe(0);
    const minted = JSON.parse(other.stdout);
    expect(minted.alias).toBe('chosen');
    // --instructions is the conversation's purpose: the broker keeps it, and inspect by the link reports it.
    expect(minted.instructions).toBe(purpose);
    expect(((await e2e.api.inspectWithLink(minted.magic_link)) as { instructions?: string }).instructions).toBe(purpose);
    expect(minted.magic_link).toContain(`/${printed.stdout.trim().slice(7).split('.')[0]}/conversations/chosen?t=`);
  });

  it('takes the host from AMS_HOST', async () => {
    const env = cliEnv({ AMS_HOST: e2e.broker.url });
    const r = await ams(['account', 'create', uniqueNs('cli')], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(e2e.broker.url);
  });
});

describe('ams say', () => {
  it('is heard: from arguments, and each line of stdin', async () => {
    const { env, link } = await user();
    const [b] = await accounts(e2e.api, 1);
    const peer = open(link, { credential: b!.credential });
    await peer.joined;
    const r1 = await ams(['say', link, 'hello', 'from', 'the', 'shell', '--as', 'shell'], { env });
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await ams(['say', link, '--as', 'shell'], { env, input: 'first line\n\nsecond line\nno newline at the end' });
    expect(r2.code, r2.stderr).toBe(0);
    await waitFor(() => utterances(peer.frames).length >= 4);
    expect(utterances(peer.frames)).toEqual(['shell: hello from the shell', 'shell: first line', 'shell: second line', 'shell: no newline at the end']);
    // The CLI declares who holds its stream: a person, through ams-cli.
    const joinedFrame = peer.frames.find((f) => f.type === 'stream_joined' && f.stream_name === 'shell') as { identity?: unknown } | undefined;
    expect(joinedFrame?.identity).toEqual({ kind: 'human', client: expect.stringMatching(/^ams-cli\/\d+\.\d+\.\d+$/) });
    await peer.close();
  });

  it('--stream sends stdin as tokens, each line ending an utterance', async () => {
    const { env, link } = await user();
    const [b] = await accounts(e2e.api, 1);
    const peer = open(link, { credential: b!.credential });
    await peer.joined;
    const r = await ams(['say', link, '--stream', '--as', 'streamer'], { env, input: 'one two\nthree' });
    expect(r.code, r.stderr).toBe(0);
    await waitFor(() => utterances(peer.frames).length >= 2);
    expect(utterances(peer.frames)).toEqual(['streamer: one two', 'streamer: three']);
    await peer.close();
  });
});

describe('ams tail', () => {
  it('hears a WebSocket peer, and survives a dropped connection without losing or repeating a line', async () => {
    const { link, observer } = await user();
    const [b] = await accounts(e2e.api, 1);
    const proxy = await new CuttableProxy(e2e.broker.port).listen();
    // Through the proxy, with the observer link and no credential anywhere in its environment.
    const tail = Live.start(['tail', proxy.via(observer)], cliEnv());
    await listening(link, 1);
    const peer = open(link, { credential: b!.credential, streamName: 'alice', receipts: true });
    await peer.joined;
    await tail.until('alice joined\n');
    const say = async (from: number, to: number) => {
      const before = peer.frames.filter((f) => f.type === 'x_receipt').length;
      for (let i = from; i <= to; i++) {
        peer.send(`part ${i} `);
        peer.send(`of ${i}`, { end: true });
      }
      await waitFor(() => peer.frames.filter((f) => f.type === 'x_receipt').length === before + 2 * (to - from + 1));
    };
    await say(1, 5);
    await tail.until('alice: part 5 of 5\n');

    proxy.cut();
    await say(6, 10);
    proxy.restore();
    await tail.until('alice: part 10 of 10\n', 30_000);
    await say(11, 11);
    await tail.until('alice: part 11 of 11\n');

    const expected = ['alice joined', ...Array.from({ length: 11 }, (_, i) => `alice: part ${i + 1} of ${i + 1}`)];
    expect(tail.lines()).toEqual(expected);
    expect(tail.stderr).toMatch(/connection lost; resuming after seq \d+/);
    expect(tail.stderr).not.toMatch(/\n\s+at /);
    await peer.close();
    await tail.stop();
    await proxy.close();
  });

  it('--subscribe hears only the named streams; --frames shows every token', async () => {
    const { link, observer } = await user();
    const [b, c] = await accounts(e2e.api, 2);
    const alice = open(link, { credential: b!.credential, streamName: 'alice', receipts: true });
    const carol = open(link, { credential: c!.credential, streamName: 'carol', receipts: true });
    await Promise.all([alice.joined, carol.joined]);
    const only = Live.start(['tail', observer, '--subscribe', 'carol'], cliEnv());
    const frames = Live.start(['tail', observer, '--frames'], cliEnv());
    await listening(link, 2);
    alice.send('from alice', { end: true });
    carol.send('from ', {});
    carol.send('carol', { end: true });
    await only.until('carol: from carol\n');
    await frames.until(/carol: carol ⏎\n/);
    await frames.until(/alice: from alice ⏎\n/);
    expect(only.lines()).toEqual(['carol: from carol']);
    // Two sockets' frames have no order between them; each stream's own frames do.
    const got = frames.lines().map((l) => l.replace(/^\[\d+\] /, ''));
    expect(got).toHaveLength(3);
    expect(got.filter((l) => l.startsWith('alice: '))).toEqual(['alice: from alice ⏎']);
    expect(got.filter((l) => l.startsWith('carol: '))).toEqual(['carol: from ', 'carol: carol ⏎']);
    await Promise.all([only.stop(), frames.stop(), alice.close(), carol.close()]);
  });

  it('--json writes one object per utterance; --since replays what was said before', async () => {
    const { link, observer } = await user();
    const [b] = await accounts(e2e.api, 1);
    const peer = open(link, { credential: b!.credential, streamName: 'bob', receipts: true });
    await peer.joined;
    peer.send('said ', {});
    peer.send('earlier', { end: true });
    await waitFor(() => peer.frames.filter((f) => f.type === 'x_receipt').length === 2);
    const tail = Live.start(['tail', observer, '--since', '0', '--json'], cliEnv());
    await tail.until('"text":"said earlier"');
    const entries = tail.lines().map((l) => JSON.parse(l));
    expect(entries.map((e) => [e.kind, e.stream_name, e.text])).toEqual([
      ['joined', 'bob', undefined],
      ['message', 'bob', 'said earlier'],
    ]);
    await tail.stop();
    await peer.close();
  });
});

describe('ams webhook', () => {
  it('adds (secret shown once), lists and removes a webhook', async () => {
    const { env, link } = await user();
    const added = await ams(['webhook', 'add', link, 'http://localhost:9/hook', '--as', 'helper', '--notify', 'mentions'], { env });
    expect(added.code, added.stderr).toBe(0);
    const id = /^webhook (wh_\S+) speaks as helper$/m.exec(added.stdout)?.[1];
    expect(id).toBeDefined();
    expect(added.stdout).toMatch(/^secret whsec_\S+/m);
    const listed = await ams(['webhook', 'list', link], { env });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`${id}  helper  `);
    expect(listed.stdout).not.toContain('whsec_');
    const removed = await ams(['webhook', 'rm', link, id!], { env });
    expect(removed.code, removed.stderr).toBe(0);
    expect((await ams(['webhook', 'list', link], { env })).stdout.trim()).toBe('no webhooks');
    const again = await ams(['webhook', 'rm', link, id!], { env });
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toMatch(/^ams: webhook_not_found: /);
    const bad = await ams(['webhook', 'add', link, 'ftp://example.com/'], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^ams: invalid_webhook_url: /);
  });
});

describe('errors and exit codes', () => {
  /** One line on stderr, no stack trace. */
  const oneLine = (stderr: string) => {
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^ams: /);
    expect(stderr).not.toMatch(/\bat .*:\d+:\d+/);
  };

  it('usage errors exit 2; --help exits 0 on every command', async () => {
    const env = cliEnv();
    for (const args of [['tail', 'not a link'], ['say', 'http://127.0.0.1:9/ns/oops?t=x', 'hi'], ['inspect', 'ftp://h/ns/conversations/a?t=x'], ['tail', 'http://127.0.0.1:9/ns/conversations/a']]) {
      const r = await ams(args, { env });
      expect(r.code, args.join(' ')).toBe(2);
      oneLine(r.stderr);
      expect(r.stderr).toContain('not a conversation link');
    }
    const missing = await ams(['say'], { env });
    expect(missing.code).toBe(2);
    const badSince = await ams(['tail', 'http://127.0.0.1:9/ns/conversations/a?t=x', '--since', '-1'], { env });
    expect(badSince.code).toBe(2);
    const unknown = await ams(['frobnicate'], { env });
    expect(unknown.code).toBe(2);
    for (const cmd of [[], ['account', 'create'], ['mint'], ['tail'], ['say'], ['chat'], ['pipe'], ['inspect']]) {
      const r = await ams([...cmd, '--help'], { env });
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: ams/);
    }
  });

  it('a missing credential, an observer link that tries to speak, a namespace taken: one line and exit 1', async () => {
    const { env, ns, link, observer } = await user();
    const noCredential = await ams(['say', link, 'hi'], { env: cliEnv() });
    expect(noCredential.code).toBe(1);
    oneLine(noCredential.stderr);
    expect(noCredential.stderr).toContain(`no credential for ${e2e.broker.url}`);

    const readOnly = await ams(['say', observer, 'hi'], { env });
    expect(readOnly.code).toBe(1);
    oneLine(readOnly.stderr);
    expect(readOnly.stderr).toContain('read_only');

    const taken = await ams(['account', 'create', ns, '--host', e2e.broker.url, '--print'], { env: cliEnv() });
    expect(taken.code).toBe(1);
    expect(taken.stderr.trim()).toMatch(/^ams: namespace_taken: .+/);
  });

  it('a link revoked under a live tail, and afterwards: one line and exit 1', async () => {
    const { env, ns, link, observer } = await user();
    const credential = JSON.parse(readFileSync(env.AMS_CONFIG!, 'utf8')).accounts[e2e.broker.url].credential as string;
    const alias = new URL(link).pathname.split('/')[3]!;

    // A tail that is live when the link is revoked ends with the broker's reason.
    const tail = Live.start(['tail', observer], cliEnv());
    await listening(link, 1);
    await e2e.api.rotate({ namespace: ns, credential }, alias);
    expect(await tail.exited).toBe(1);
    oneLine(tail.stderr);
    expect(tail.stderr).toContain('invalid_magic_link');
    for (const args of [['tail', observer], ['say', link, 'hi'], ['inspect', link]]) {
      const r = await ams(args, { env });
      expect(r.code, args[0]).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toMatch(/^ams: invalid_magic_link: /);
    }

  });

  it('an unreachable host: one line and exit 1', async () => {
    const env = cliEnv({ AMS_CREDENTIAL: 'ams_sk_nobody.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    const closed = `http://127.0.0.1:${await freePort()}`;
    const gone = `${closed}/ns/conversations/a?t=w0.x`;
    for (const args of [['tail', gone], ['inspect', gone], ['mint', '--host', closed], ['account', 'create', 'x', '--host', closed, '--print']]) {
      const r = await ams(args, { env });
      expect(r.code, args[0]).toBe(1);
      oneLine(r.stderr);
      expect(r.stderr).toMatch(/cannot reach .*ECONNREFUSED/);
    }
  });
});
