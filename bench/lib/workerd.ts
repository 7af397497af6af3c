/**
 * The runtimes the benchmark runs AMS on. `npm run serve`'s (test/support/serve.ts)
 * is what a deployment runs: the Worker outermost in plain workerd.
 * `wrangler dev` runs two workerd processes: a proxy on the public port and
 * the runtime that executes the Worker and its Durable Objects. The proxy
 * exists only in development, so the benchmark also talks to the runtime's
 * own entry socket, found here from /proc.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startBroker, type Broker } from '../../test/support/broker';
import { startServe, workerdBinary } from '../../test/support/serve';
import { descendants, listeningPorts } from './proc';

export interface WorkerdProcesses {
  broker: Broker;
  /** The public `wrangler dev` address (through the dev proxy). */
  devUrl: string;
  /** The runtime workerd's entry socket (no dev proxy), if found. */
  directUrl: string | undefined;
  runtimePid: number;
  proxyPid: number | undefined;
  /** The inspector (DevTools protocol) wrangler serves for the Worker's isolate: bench/profile.ts uses it. */
  inspectorPort: number | undefined;
}

/** `stateParent`: where the state directory goes (default: the OS temp dir). */
export async function startWorkerd(root?: string, stateParent?: string): Promise<WorkerdProcesses> {
  const broker = await startBroker({ root, stateDir: stateParent ? mkdtempSync(join(stateParent, 'ams-state-')) : undefined });
  const workerds = descendants(broker.process.pid!).filter((p) => p.args.some((a) => a.endsWith('/workerd')) && p.args.includes('serve'));
  const runtime = workerds.find((p) => p.args.some((a) => a.startsWith('--inspector-addr')));
  const proxy = workerds.find((p) => p !== runtime && p.args.some((a) => a === `--socket-addr=entry=127.0.0.1:${broker.port}`));
  if (!runtime) {
    await broker.stop();
    throw new Error(`could not find the runtime workerd among: ${workerds.map((w) => w.args.join(' ')).join('\n')}`);
  }
  let directUrl: string | undefined;
  for (const port of listeningPorts(runtime.pid)) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok && ((await res.json()) as { ok?: boolean }).ok === true) {
        directUrl = `http://127.0.0.1:${port}`;
        break;
      }
    } catch {
      // inspector, debug or loopback socket: not the entry
    }
  }
  const wranglerArgs = descendants(broker.process.pid!).map((p) => p.args.join(' ')).join('\n');
  const inspectorPort = Number(/ --inspector-port (\d+)/.exec(wranglerArgs)?.[1]) || undefined;
  return { broker, devUrl: broker.url, directUrl, runtimePid: runtime.pid, proxyPid: proxy?.pid, inspectorPort };
}

/**
 * One AMS runtime as the benchmark drives it: `npm run serve`'s plain workerd
 * (the Worker outermost, as deployed) or a `wrangler dev` port.
 */
export interface Runtime {
  broker: Broker;
  url: string;
  /** The processes whose CPU and memory the rows weigh. */
  pids: () => number[];
  inspectorPort?: number;
  /** What the report says about it. */
  describe: string;
}

/** `npm run serve`'s runtime on a copy of the project, state in a fresh directory under `stateParent`. */
export async function startServed(root: string, stateParent?: string, opts: { inspector?: boolean } = {}): Promise<Runtime> {
  const stateDir = mkdtempSync(join(stateParent ?? tmpdir(), 'ams-state-'));
  const served = await startServe({ root, stateDir, inspectorPort: opts.inspector ? await freePort() : undefined });
  const { version } = workerdBinary(root);
  return {
    broker: served,
    url: served.url,
    pids: () => [served.process.pid!],
    inspectorPort: served.inspectorPort,
    describe: `npm run serve: plain workerd ${version}, the Worker outermost; flags ${served.compatibilityFlags.join(', ')}`,
  };
}

/** A `wrangler dev` seen through its public port (what `npm start` gives), weighing both of its workerd processes. */
export function devRuntime(w: WorkerdProcesses): Runtime {
  return {
    broker: w.broker,
    url: w.devUrl,
    pids: () => [w.runtimePid, ...(w.proxyPid ? [w.proxyPid] : [])],
    inspectorPort: w.inspectorPort,
    describe: 'wrangler dev (npm start): its dev proxy and entry worker in front of ours',
  };
}
