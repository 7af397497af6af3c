/**
 * CPU profiles of the Worker's isolate through workerd's inspector (or
 * `wrangler dev`'s proxy of it; Chrome DevTools Protocol): where the broker spends its time while a
 * scenario runs. Used by bench/profile.ts and by the audience rows' profiled
 * repeat (bench/lib/object-cpu.ts), never during a timed row.
 */
import WebSocket from 'ws';

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; scriptId: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export class Inspector {
  private id = 0;
  private readonly pending = new Map<number, (r: unknown) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
      if (msg.id !== undefined) this.pending.get(msg.id)?.(msg.error ? Promise.reject(new Error(JSON.stringify(msg.error))) : msg.result);
    });
  }

  static async connect(port: number): Promise<Inspector> {
    const list = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { id?: string; webSocketDebuggerUrl: string }[];
    // Plain workerd lists one target per worker (`npm run serve` also runs its asset worker); wrangler's proxy lists ours alone.
    const ws = new WebSocket((list.find((t) => t.id === 'ams') ?? list[0]).webSocketDebuggerUrl);
    await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)));
    return new Inspector(ws);
  }

  call<T>(method: string, params: object = {}, timeoutMs = 30_000): Promise<T> {
    const id = ++this.id;
    return new Promise<T>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`inspector: ${method} got no answer`)), timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        res(r as T);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** Self time per function (ms), heaviest first. */
export function selfTimes(profile: CpuProfile): { name: string; ms: number; share: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) self.set(samples[i], (self.get(samples[i]) ?? 0) + (deltas[i + 1] ?? 0) / 1000);
  const totals = new Map<string, number>();
  let all = 0;
  for (const [id, ms] of self) {
    const f = byId.get(id)!.callFrame;
    const file = f.url.split('/').slice(-2).join('/');
    const key = `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
    totals.set(key, (totals.get(key) ?? 0) + ms);
    all += ms;
  }
  return [...totals].map(([name, ms]) => ({ name, ms, share: ms / all })).sort((a, b) => b.ms - a.ms);
}
