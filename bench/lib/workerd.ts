/**
 * `wrangler dev` runs two workerd processes: a proxy on the public port and
 * the runtime that executes the Worker and its Durable Objects. The proxy
 * exists only in development, so the benchmark also talks to the runtime's
 * own entry socket, found here from /proc.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, type Broker } from '../../test/support/broker';
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
