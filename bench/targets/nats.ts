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

  subscribe(subject: string): void {
    this.ws.send(`SUB ${subject} ${++this.sids}${CRLF}`);
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
        this.onMessage(this.buf.toString('utf8', start, start + size), -1);
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
