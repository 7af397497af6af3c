/** Starting a baseline server binary, if it is installed, and waiting for its port. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { sleep } from './stats';

/** The absolute path of an executable on PATH (or in /usr/sbin, where Debian puts some), or undefined. */
export function which(bin: string): string | undefined {
  const r = spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v ${bin}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path ? path : undefined;
}

export function versionOf(bin: string, arg: string): string {
  const r = spawnSync(bin, [arg], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0];
}

export async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${child.spawnfile} exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((res) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), res(true)));
      s.once('error', () => res(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${child.spawnfile} did not listen on ${port}`);
    await sleep(50);
  }
}

export function startServer(bin: string, args: string[]): ChildProcess {
  return spawn(bin, args, { stdio: 'ignore' });
}

export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(3_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}
