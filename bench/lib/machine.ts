/** What the machine was and how busy it was, recorded with every run. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { sleep } from './stats';

function cpuTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Share of all cores busy over `ms` (other processes included), in percent. */
export async function cpuBusyPercent(ms = 1_000): Promise<number> {
  const a = cpuTicks();
  await sleep(ms);
  const b = cpuTicks();
  return b.total === a.total ? 0 : ((b.busy - a.busy) / (b.total - a.total)) * 100;
}

function versionIn(root: string, pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function describeMachine(root: string) {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    wrangler: versionIn(root, 'wrangler'),
    workerd: versionIn(join(root, 'node_modules/wrangler'), '@cloudflare/workerd-linux-64'),
    ws: versionIn(root, 'ws'),
  };
}
