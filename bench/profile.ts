/**
 * Profiles the broker's isolate while a fan-out runs:
 *   npx tsx bench/profile.ts [listeners=10] [tokens per stream=1500] [--hop] [--history-off]
 *     [--root=<copy of the project>] [--state-in=<dir>] [--no-profile] [--no-compression] [--dev]
 * Prints the runtime's CPU time per token and per delivery (robust on a busy
 * machine), the JavaScript time per token of each object (bench/lib/object-cpu.ts)
 * and the functions with the most self time. Not part of `npm run bench`.
 * Runs on `npm run serve`'s runtime (plain workerd, the Worker outermost), or on
 * `wrangler dev` with --dev.
 * Its clients offer permessage-deflate as default clients do (decision 0080)
 * unless --no-compression.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { selfTimes, type CpuProfile } from './lib/cpu-profile';
import { profileObjects, type ObjectCpu } from './lib/object-cpu';
import { cpuMs } from './lib/proc';
import { snapshot } from './lib/snapshot';
import { runTraffic } from './lib/traffic';
import { devRuntime, startServed, startWorkerd } from './lib/workerd';
import { AmsTarget } from './targets/ams';
import { EMIT_PACE, PAYLOAD_BYTES } from './scenarios/traffic';

const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const root = process.argv.find((a) => a.startsWith('--root='))?.slice(7);
const profiling = !process.argv.includes('--no-profile');
/** --hop: one token in flight over eight streams to one listener (the latency scenario) instead of a fan-out. */
const hopMode = process.argv.includes('--hop');
const listeners = Number(positional[0] ?? 10);
const perStream = Number(positional[1] ?? 1_500);
const snap = root ? { dir: root, remove: () => {} } : snapshot();
const stateIn = process.argv.find((a) => a.startsWith('--state-in='))?.slice(11);
const ams = process.argv.includes('--dev') ? devRuntime(await startWorkerd(snap.dir, stateIn)) : await startServed(snap.dir, stateIn, { inspector: profiling });
try {
  const port = ams.inspectorPort!;
  const cpuOf = () => ams.pids().reduce((sum, pid) => sum + cpuMs(pid), 0);
  // --history-off mints conversations with history {max_frames: 0}: no log rows, only the head is written.
  const target = new AmsTarget('AMS', ams.url, ams.pids, process.argv.includes('--history-off') ? { max_frames: 0 } : undefined, { compression: !process.argv.includes('--no-compression') });
  target.onError = (m) => console.error(m);
  const shape = hopMode ? { owners: [8], listeners: 1 } : { owners: [10], listeners, beyondOneAccount: true };
  const window = hopMode ? 1 : 512;
  const warm = await target.room(shape);
  await runTraffic([warm], { tokensPerPublisher: hopMode ? 50 : 300, window, windowScope: 'global', rate: EMIT_PACE, payloadBytes: PAYLOAD_BYTES, stallMs: 15_000 });
  await warm.close();
  const room = await target.room(shape);
  let cpu = 0;
  const traffic = async () => {
    const cpu0 = cpuOf();
    const value = await runTraffic([room], { tokensPerPublisher: perStream, window, windowScope: 'global', rate: EMIT_PACE, payloadBytes: PAYLOAD_BYTES, stallMs: 15_000 });
    cpu = cpuOf() - cpu0;
    return value;
  };
  let profile: CpuProfile | undefined;
  let objects: ObjectCpu | undefined;
  let r: Awaited<ReturnType<typeof traffic>>;
  if (profiling) {
    const p = await profileObjects(port, 100, traffic);
    ({ value: r, profile, cpu: objects } = p);
  } else r = await traffic();
  await room.close();
  console.log(`${hopMode ? 'hop' : `1 → ${listeners}`}: ${Math.round(r.deliveriesPerSecond)} deliveries/s, ${Math.round(r.tokensPerSecond)} tokens/s over ${Math.round(r.elapsedMs)} ms (bucket waits ${r.bucketWaits}, p50 ${r.latency.p50.toFixed(3)} ms, p99 ${r.latency.p99.toFixed(3)} ms)`);
  console.log(`runtime CPU: ${((cpu * 1000) / r.tokens).toFixed(1)} µs/token, ${((cpu * 1000) / r.deliveries).toFixed(2)} µs/delivery${profiling ? ' (profiler on)' : ''}`);
  if (objects) {
    console.log(`JavaScript per token by object (samples × the sampler's period of ${objects.periodUs} µs):`);
    for (const [owner, v] of Object.entries(objects.js).sort((a, b) => b[1].samples - a[1].samples)) console.log(`${((v.ms * 1000) / r.tokens).toFixed(1).padStart(10)} µs  ${owner} (${v.samples} samples)`);
  }
  if (profile) {
    writeFileSync('/tmp/ams-broker.cpuprofile', JSON.stringify(profile));
    console.log('self time (ms, share) — profile written to /tmp/ams-broker.cpuprofile');
    for (const row of selfTimes(profile).slice(0, 30)) console.log(`${row.ms.toFixed(1).padStart(8)} ${(row.share * 100).toFixed(1).padStart(5)}%  ${row.name}`);
  }
} catch (err) {
  console.error(err);
  console.error(`--- runtime output (tail) ---\n${ams.broker.output().slice(-3000)}`);
} finally {
  await ams.broker.stop();
  rmSync(ams.broker.stateDir, { recursive: true, force: true });
  snap.remove();
}
