/**
 * NATS behind the harness interface, spoken over its WebSocket listener with
 * the plain text protocol (INFO, CONNECT, SUB, PUB, MSG, PING/PONG) — the
 * same `ws` client the other targets use, no NATS library in between.
 * Subjects: `b.{room}.o{owner}`; a peer subscribes to the other owners'
 * subjects, a listener to `b.{room}.>`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
import { freePort } from '../../test/support/broker';
import { startServer, stopServer, versionOf, waitForPort, which } from '../lib/server';
import { closeAll } from './ams';
import { inBatches, noop, type Peer, type Room, type RoomSpec, type Target } from './target';

const CRLF = '\r\n';

/** One NATS connection over WebSocket with a streaming parser for MSG/PING/PONG/+OK/-ERR. */
class NatsConnection implements Peer {
  onMessage: (payload: string, seq: number) => void = noop;
  private buf: Buffer = Buffer.alloc(0);
  private pongs: (() => void)[] = [];
  subject = '';
  private sids = 0;
  /** Subscriptions with a handler of their own (JetStream API replies, consumer deliveries); the rest go to onMessage. */
  private readonly handlers = new Map<string, (payload: string) => void>();
  private inbox: string | undefined;
  private readonly replies = new Map<string, (payload: string) => void>();
  private requests = 0;
  constructor(readonly ws: WebSocket, private readonly fail: (m: string) => void) {
    ws.on('message', (data: Buffer) => this.feed(data));
  }

  static open(url: string, fail: (m: string) => void): Promise<NatsConnection> {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const conn = new NatsConnection(ws, fail);
    return new Promise((res, rej) => {
      ws.once('error', rej);
      ws.once('open', async () => {
        ws.send(`CONNECT {"verbose":false,"pedantic":false,"echo":false,"protocol":1,"lang":"bench","version":"1"}${CRLF}`);
        await conn.flush();
        res(conn);
      });
      ws.on('close', (code) => {
        if (!(ws as { benchClosing?: boolean }).benchClosing) fail(`nats: connection closed ${code}`);
      });
    });
  }

  /** Resolves when the server has processed everything sent before it. */
  flush(): Promise<void> {
    return new Promise((res) => {
      this.pongs.push(res);
      this.ws.send(`PING${CRLF}`);
    });
  }

  subscribe(subject: string, handler?: (payload: string) => void): void {
    const sid = String(++this.sids);
    if (handler) this.handlers.set(sid, handler);
    this.ws.send(`SUB ${subject} ${sid}${CRLF}`);
  }

  /** Request/reply through an inbox of this connection (how the JetStream API is spoken). */
  request(subject: string, payload: string): Promise<string> {
    if (!this.inbox) {
      this.inbox = `_INBOX.${Math.random().toString(36).slice(2)}`;
      this.subscribe(`${this.inbox}.*`, noop);
    }
    const token = String(++this.requests);
    return new Promise((res) => {
      this.replies.set(`${this.inbox}.${token}`, res);
      this.ws.send(`PUB ${subject} ${this.inbox}.${token} ${Buffer.byteLength(payload)}${CRLF}${payload}${CRLF}`);
    });
  }

  publish(payload: string): void {
    this.ws.send(`PUB ${this.subject} ${Buffer.byteLength(payload)}${CRLF}${payload}${CRLF}`);
  }

  private feed(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let off = 0;
    for (;;) {
      const eol = this.buf.indexOf(CRLF, off);
      if (eol < 0) break;
      const line = this.buf.toString('latin1', off, eol);
      if (line.startsWith('MSG ')) {
        // MSG <subject> <sid> [reply-to] <#bytes>
        const size = Number(line.slice(line.lastIndexOf(' ') + 1));
        const start = eol + 2;
        if (this.buf.length < start + size + 2) break;
        const [, subject, sid] = line.split(' ', 3);
        const text = this.buf.toString('utf8', start, start + size);
        const reply = this.replies.get(subject);
        if (reply) {
          this.replies.delete(subject);
          reply(text);
        } else {
          const handler = this.handlers.get(sid);
          if (handler) handler(text);
          else this.onMessage(text, -1);
        }
        off = start + size + 2;
        continue;
      }
      off = eol + 2;
      if (line === 'PING') this.ws.send(`PONG${CRLF}`);
      else if (line === 'PONG') this.pongs.shift()?.();
      else if (line.startsWith('-ERR')) this.fail(`nats: ${line}`);
      // INFO and +OK need nothing.
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
  }
}

export class NatsTarget implements Target {
  readonly name = 'NATS (ws)';
  onError: (message: string) => void = noop;
  private rooms = 0;
  private constructor(private readonly child: ChildProcess, private readonly wsPort: number, readonly version: string, private readonly dir: string) {}

  /** Starts nats-server with a WebSocket listener, or returns the reason it cannot. */
  static async start(): Promise<NatsTarget | string> {
    const bin = which('nats-server');
    if (!bin) return 'nats-server is not installed (apt-get install -y nats-server)';
    const [port, wsPort] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'ams-bench-nats-'));
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, `listen: "127.0.0.1:${port}"\nwebsocket {\n  listen: "127.0.0.1:${wsPort}"\n  no_tls: true\n  compression: false\n}\n`);
    const child = startServer(bin, ['-c', conf]);
    await waitForPort(wsPort, child);
    return new NatsTarget(child, wsPort, versionOf(bin, '--version'), dir);
  }

  pids(): number[] {
    return [this.child.pid!];
  }

  async room(spec: RoomSpec): Promise<Room> {
    const room = `b.r${this.rooms++}`;
    const url = `ws://127.0.0.1:${this.wsPort}`;
    const all: NatsConnection[] = [];
    const owners = await Promise.all(spec.owners.map((count, o) =>
      inBatches(Array.from({ length: count }, (_, i) => i), 32, async () => {
        const c = await NatsConnection.open(url, this.onError);
        c.subject = `${room}.o${o}`;
        spec.owners.forEach((_, other) => other !== o && c.subscribe(`${room}.o${other}`));
        await c.flush();
        all.push(c);
        return c;
      })));
    const listeners: NatsConnection[] = [];
    const addListeners = async (n: number) => {
      const opened = await inBatches(Array.from({ length: n }, (_, i) => i), 32, async () => {
        const c = await NatsConnection.open(url, this.onError);
        c.subscribe(`${room}.>`);
        await c.flush();
        all.push(c);
        return c;
      });
      listeners.push(...opened);
    };
    await addListeners(spec.listeners);
    return { owners, listeners, addListeners, close: () => closeAll(all.map((c) => c.ws)) };
  }

  async stop(): Promise<void> {
    await stopServer(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The stream's and consumers' settings: file storage, push consumers that need no acks (the harness checks every delivery itself). */
function jsCall(c: NatsConnection, api: string, body: unknown): Promise<Record<string, unknown>> {
  return c.request(`$JS.API.${api}`, JSON.stringify(body)).then((text) => {
    const reply = JSON.parse(text) as Record<string, unknown> & { error?: { description?: string } };
    if (reply.error) throw new Error(`jetstream ${api}: ${reply.error.description ?? JSON.stringify(reply.error)}`);
    return reply;
  });
}

/**
 * NATS JetStream behind the harness interface: one file-stored stream per
 * room (subjects `b.{room}.>`), publishers PUB to `b.{room}.o{owner}` (stored
 * before any consumer sees it), every receiver holds ephemeral push consumers
 * (`deliver_policy: all`, `ack_policy: none`) on the subjects it should hear:
 * one per other owner (nats-server 2.9 filters a consumer on one subject),
 * one on `b.{room}.>` for a listener.
 */
export class JetStreamTarget implements Target {
  readonly name = 'NATS JetStream (ws)';
  onError: (message: string) => void = noop;
  private rooms = 0;
  private constructor(private readonly child: ChildProcess, private readonly wsPort: number, readonly version: string, private readonly dir: string) {}

  /** `storeParent`: where the file store goes (the same file system as AMS's state, to compare like with like). */
  static async start(storeParent?: string): Promise<JetStreamTarget | string> {
    const bin = which('nats-server');
    if (!bin) return 'nats-server is not installed (apt-get install -y nats-server)';
    const [port, wsPort] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(storeParent ?? tmpdir(), 'ams-bench-jetstream-'));
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, `listen: "127.0.0.1:${port}"\njetstream {\n  store_dir: "${join(dir, 'store')}"\n}\nwebsocket {\n  listen: "127.0.0.1:${wsPort}"\n  no_tls: true\n  compression: false\n}\n`);
    const child = startServer(bin, ['-c', conf]);
    await waitForPort(wsPort, child);
    return new JetStreamTarget(child, wsPort, `${versionOf(bin, '--version')}, JetStream file store in ${storeParent ?? tmpdir()}`, dir);
  }

  pids(): number[] {
    return [this.child.pid!];
  }

  async room(spec: RoomSpec): Promise<Room> {
    const roomNo = this.rooms++;
    const room = `b.r${roomNo}`;
    const stream = `B_R${roomNo}`;
    const url = `ws://127.0.0.1:${this.wsPort}`;
    const all: NatsConnection[] = [];
    const admin = await NatsConnection.open(url, this.onError);
    all.push(admin);
    await jsCall(admin, `STREAM.CREATE.${stream}`, { name: stream, subjects: [`${room}.>`], storage: 'file', retention: 'limits', discard: 'old', num_replicas: 1 });
    let consumers = 0;
    const consume = async (c: NatsConnection, filter: string) => {
      const deliver = `dlv.${roomNo}.${consumers++}`;
      c.subscribe(deliver, (text) => c.onMessage(text, -1));
      await c.flush();
      await jsCall(c, `CONSUMER.CREATE.${stream}`, {
        stream_name: stream,
        config: { deliver_subject: deliver, deliver_policy: 'all', ack_policy: 'none', filter_subject: filter, max_deliver: 1, replay_policy: 'instant' },
      });
    };
    const owners = await Promise.all(spec.owners.map((count, o) =>
      inBatches(Array.from({ length: count }, (_, i) => i), 16, async () => {
        const c = await NatsConnection.open(url, this.onError);
        all.push(c);
        c.subject = `${room}.o${o}`;
        for (let other = 0; other < spec.owners.length; other++) if (other !== o) await consume(c, `${room}.o${other}`);
        return c;
      })));
    const listeners: NatsConnection[] = [];
    const addListeners = async (n: number) => {
      const opened = await inBatches(Array.from({ length: n }, (_, i) => i), 16, async () => {
        const c = await NatsConnection.open(url, this.onError);
        all.push(c);
        await consume(c, `${room}.>`);
        return c;
      });
      listeners.push(...opened);
    };
    await addListeners(spec.listeners);
    return {
      owners, listeners, addListeners,
      close: async () => {
        await jsCall(admin, `STREAM.DELETE.${stream}`, {}).catch(() => {});
        await closeAll(all.map((c) => c.ws));
      },
    };
  }

  async stop(): Promise<void> {
    await stopServer(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
