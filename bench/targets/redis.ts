/**
 * Redis pub/sub behind the harness interface, spoken in RESP over a plain
 * `net.Socket` (Redis has no WebSocket listener; TCP is what its clients use).
 * A subscribing connection cannot publish, so each peer holds two: one to
 * PUBLISH on `b.{room}.o{owner}`, one SUBSCRIBEd to the other owners' channels.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { freePort } from '../../test/support/broker';
import { startServer, stopServer, versionOf, waitForPort, which } from '../lib/server';
import { inBatches, noop, type Peer, type Room, type RoomSpec, type Target } from './target';

export type Resp = string | number | null | Resp[] | Error;

/** Encodes a command as a RESP array of bulk strings. */
export function command(...args: (string | number)[]): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

/** Parses one RESP value at `off`; returns it and the next offset, or undefined if the buffer is short. */
function parse(buf: Buffer, off: number): [Resp, number] | undefined {
  const eol = buf.indexOf('\r\n', off);
  if (eol < 0) return undefined;
  const kind = buf[off];
  const head = buf.toString('latin1', off + 1, eol);
  switch (kind) {
    case 0x2b: // +
      return [head, eol + 2];
    case 0x2d: // -
      return [new Error(head), eol + 2];
    case 0x3a: // :
      return [Number(head), eol + 2];
    case 0x24: { // $
      const n = Number(head);
      if (n < 0) return [null, eol + 2];
      if (buf.length < eol + 2 + n + 2) return undefined;
      return [buf.toString('utf8', eol + 2, eol + 2 + n), eol + 2 + n + 2];
    }
    case 0x2a: { // *
      const n = Number(head);
      if (n < 0) return [null, eol + 2];
      const items: Resp[] = [];
      let at = eol + 2;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, at);
        if (!r) return undefined;
        items.push(r[0]);
        at = r[1];
      }
      return [items, at];
    }
    default:
      throw new Error(`unexpected RESP byte ${kind} at ${off}`);
  }
}

/** One RESP connection: replies to commands in order, pub/sub pushes to `onPush`. */
export class RespConnection {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: ((r: Resp) => void)[] = [];
  onPush: (r: Resp[]) => void = noop;
  pushMode = false;
  constructor(readonly socket: Socket, private readonly fail: (m: string) => void) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.feed(chunk));
    socket.on('close', () => {
      if (!(socket as { benchClosing?: boolean }).benchClosing) fail('redis: connection closed');
    });
  }

  static open(port: number, fail: (m: string) => void): Promise<RespConnection> {
    const socket = connect(port, '127.0.0.1');
    return new Promise((res, rej) => {
      socket.once('error', rej);
      socket.once('connect', () => res(new RespConnection(socket, fail)));
    });
  }

  send(text: string): void {
    this.socket.write(text);
  }

  call(...args: (string | number)[]): Promise<Resp> {
    return new Promise((res) => {
      this.waiting.push(res);
      this.socket.write(command(...args));
    });
  }

  /** Sends without awaiting: the reply is read and dropped in order. */
  fire(text: string): void {
    this.waiting.push(noop);
    this.socket.write(text);
  }

  private feed(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let off = 0;
    while (off < this.buf.length) {
      const r = parse(this.buf, off);
      if (!r) break;
      off = r[1];
      const value = r[0];
      if (value instanceof Error) this.fail(`redis: ${value.message}`);
      if (this.pushMode && Array.isArray(value)) this.onPush(value);
      else this.waiting.shift()?.(value);
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
  }

  close(): Promise<void> {
    return new Promise((res) => {
      (this.socket as { benchClosing?: boolean }).benchClosing = true;
      if (this.socket.destroyed) return res();
      this.socket.once('close', () => res());
      this.socket.end();
    });
  }
}

class RedisPeer implements Peer {
  onMessage: (payload: string, seq: number) => void = noop;
  channel = '';
  constructor(readonly pub: RespConnection | null, readonly sub: RespConnection) {
    sub.pushMode = true;
  }
  publish(payload: string): void {
    this.pub!.fire(command('PUBLISH', this.channel, payload));
  }
  /** Subscribes and resolves once every confirmation came back. */
  subscribe(channels: string[]): Promise<void> {
    if (channels.length === 0) return Promise.resolve();
    return new Promise((res) => {
      let pending = channels.length;
      this.sub.onPush = (msg) => {
        if (msg[0] === 'message') this.onMessage(msg[2] as string, -1);
        else if (msg[0] === 'subscribe' && --pending === 0) res();
      };
      this.sub.send(command('SUBSCRIBE', ...channels));
    });
  }
}

export class RedisTarget implements Target {
  readonly name = 'Redis pub/sub';
  onError: (message: string) => void = noop;
  private rooms = 0;
  private constructor(private readonly child: ChildProcess, readonly port: number, readonly version: string) {}

  static async start(): Promise<RedisTarget | string> {
    const bin = which('redis-server');
    if (!bin) return 'redis-server is not installed (apt-get install -y redis-server)';
    const port = await freePort();
    const child = startServer(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning']);
    await waitForPort(port, child);
    return new RedisTarget(child, port, versionOf(bin, '--version'));
  }

  pids(): number[] {
    return [this.child.pid!];
  }

  connection(): Promise<RespConnection> {
    return RespConnection.open(this.port, this.onError);
  }

  async room(spec: RoomSpec): Promise<Room> {
    const room = `b.r${this.rooms++}`;
    const conns: RespConnection[] = [];
    // A room without publishers still gets one channel, so its listeners hold a real subscription.
    const channels = spec.owners.length > 0 ? spec.owners.map((_, o) => `${room}.o${o}`) : [`${room}.o0`];
    const open = async () => {
      const c = await this.connection();
      conns.push(c);
      return c;
    };
    const owners = await Promise.all(spec.owners.map((count, o) =>
      inBatches(Array.from({ length: count }, (_, i) => i), 32, async () => {
        const peer = new RedisPeer(await open(), await open());
        peer.channel = channels[o];
        await peer.subscribe(channels.filter((_, other) => other !== o));
        return peer;
      })));
    const listeners: RedisPeer[] = [];
    const addListeners = async (n: number) => {
      const opened = await inBatches(Array.from({ length: n }, (_, i) => i), 32, async () => {
        const peer = new RedisPeer(null, await open());
        await peer.subscribe(channels);
        return peer;
      });
      listeners.push(...opened);
    };
    await addListeners(spec.listeners);
    return { owners, listeners, addListeners, close: () => Promise.all(conns.map((c) => c.close())).then(noop) };
  }

  async stop(): Promise<void> {
    await stopServer(this.child);
  }
}

/** One blocking reader: `XREAD BLOCK 0` over the keys it should hear, re-issued after every reply. */
class StreamReader implements Peer {
  onMessage: (payload: string, seq: number) => void = noop;
  key = '';
  private closed = false;
  constructor(readonly pub: RespConnection | null, private readonly read: RespConnection, private readonly keys: string[], private readonly fail: (m: string) => void) {}
  publish(payload: string): void {
    this.pub!.fire(command('XADD', this.key, '*', 'd', payload));
  }
  start(): void {
    if (this.keys.length === 0) return;
    // Every room's keys are new: reading from 0-0 hears everything, with no race against the first XADD.
    const ids = this.keys.map(() => '0-0');
    const loop = async () => {
      while (!this.closed) {
        const reply = await this.read.call('XREAD', 'COUNT', 1000, 'BLOCK', 0, 'STREAMS', ...this.keys, ...ids);
        if (this.closed) return;
        if (!Array.isArray(reply)) return this.fail(`redis XREAD: unexpected reply ${String(reply)}`);
        for (const [key, entries] of reply as [string, [string, string[]][]][]) {
          const k = this.keys.indexOf(key);
          for (const [id, fields] of entries) {
            ids[k] = id;
            this.onMessage(fields[1], -1);
          }
        }
      }
    };
    void loop();
  }
  stop(): void {
    this.closed = true;
  }
}

/**
 * Redis Streams behind the harness interface: `XADD` to one stream per owner
 * (`b.{room}.o{owner}`), each receiver on its own connection in a loop of
 * `XREAD BLOCK 0` over the other owners' streams (a listener: all of them).
 * The server appends every entry to its AOF (`appendfsync everysec`, Redis's
 * default when persistence is on) before readers are woken.
 */
export class RedisStreamsTarget implements Target {
  readonly name = 'Redis Streams';
  onError: (message: string) => void = noop;
  private rooms = 0;
  private constructor(private readonly child: ChildProcess, readonly port: number, readonly version: string, private readonly dir: string) {}

  /** `dataParent`: where the append-only file goes (the same file system as AMS's state, to compare like with like). */
  static async start(dataParent?: string): Promise<RedisStreamsTarget | string> {
    const bin = which('redis-server');
    if (!bin) return 'redis-server is not installed (apt-get install -y redis-server)';
    const port = await freePort();
    const dir = mkdtempSync(join(dataParent ?? tmpdir(), 'ams-bench-redis-'));
    const child = startServer(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--protected-mode', 'no', '--loglevel', 'warning']);
    await waitForPort(port, child);
    return new RedisStreamsTarget(child, port, `${versionOf(bin, '--version')}, AOF everysec in ${dataParent ?? tmpdir()}`, dir);
  }

  pids(): number[] {
    return [this.child.pid!];
  }

  async room(spec: RoomSpec): Promise<Room> {
    const room = `b.r${this.rooms++}`;
    const conns: RespConnection[] = [];
    const readers: StreamReader[] = [];
    const keys = spec.owners.length > 0 ? spec.owners.map((_, o) => `${room}.o${o}`) : [`${room}.o0`];
    const open = async () => {
      const c = await RespConnection.open(this.port, this.onError);
      conns.push(c);
      return c;
    };
    const reader = async (pub: RespConnection | null, hears: string[]) => {
      const r = new StreamReader(pub, await open(), hears, this.onError);
      readers.push(r);
      return r;
    };
    const owners = await Promise.all(spec.owners.map((count, o) =>
      inBatches(Array.from({ length: count }, (_, i) => i), 32, async () => {
        const r = await reader(await open(), keys.filter((_, other) => other !== o));
        r.key = keys[o];
        r.start();
        return r;
      })));
    const listeners: StreamReader[] = [];
    const addListeners = async (n: number) => {
      const opened = await inBatches(Array.from({ length: n }, (_, i) => i), 32, async () => {
        const r = await reader(null, keys);
        r.start();
        return r;
      });
      listeners.push(...opened);
    };
    await addListeners(spec.listeners);
    return {
      owners, listeners, addListeners,
      close: async () => {
        for (const r of readers) r.stop();
        await Promise.all(conns.map((c) => c.close()));
        const admin = await RespConnection.open(this.port, this.onError);
        await admin.call('DEL', ...keys);
        await admin.close();
      },
    };
  }

  async stop(): Promise<void> {
    await stopServer(this.child);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
