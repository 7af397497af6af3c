/**
 * Profiles the broker's isolate while a fan-out runs: `npx tsx bench/profile.ts [listeners] [tokens per stream]`.
 * Prints the functions with the most self time. Not part of `npm run bench`.
 */
import { writeFileSync } from 'node:fs';
import { Inspector, selfTimes, type CpuProfile } from './lib/cpu-profile';
import { descendants } from './lib/proc';
import { snapshot } from './lib/snapshot';
import { runTraffic } from './lib/traffic';
import { startAms } from './lib/workerd';
import { AmsTarget } from './targets/ams';
import { EMIT_PACE, PAYLOAD_BYTES } from './scenarios/traffic';

const listeners = Number(process.argv[2] ?? 10);
const perStream = Number(process.argv[3] ?? 1_500);
const snap = snapshot();
const ams = await startAms(snap.dir);
try {
  const args = descendants(ams.broker.process.pid!).map((p) => p.args.join(' ')).join('\n');
  const port = Number(/ --inspector-port (\d+)/.exec(args)![1]);
  const target = new AmsTarget('AMS', ams.directUrl ?? ams.devUrl, () => [ams.runtimePid]);
  target.onError = (m) => console.error(m);
  const warm = await target.room({ owners: [10], listeners });
  await runTraffic([warm], { tokensPerPublisher: 300, window: 512, windowScope: 'global', rate: EMIT_PACE, payloadBytes: PAYLOAD_BYTES, stallMs: 15_000 });
  await warm.close();
  const room = await target.room({ owners: [10], listeners });
  const inspector = await Inspector.connect(port);
  await inspector.call('Profiler.enable');
  await inspector.call('Profiler.setSamplingInterval', { interval: 100 });
  await inspector.call('Profiler.start');
  const r = await runTraffic([room], { tokensPerPublisher: perStream, window: 512, windowScope: 'global', rate: EMIT_PACE, payloadBytes: PAYLOAD_BYTES, stallMs: 15_000 });
  const { profile } = await inspector.call<{ profile: CpuProfile }>('Profiler.stop');
  inspector.close();
  await room.close();
  writeFileSync('/tmp/ams-broker.cpuprofile', JSON.stringify(profile));
  console.log(`1 → ${listeners}: ${Math.round(r.deliveriesPerSecond)} deliveries/s, ${Math.round(r.tokensPerSecond)} tokens/s over ${Math.round(r.elapsedMs)} ms`);
  console.log('self time (ms, share) — profile written to /tmp/ams-broker.cpuprofile');
  for (const row of selfTimes(profile).slice(0, 30)) console.log(`${row.ms.toFixed(1).padStart(8)} ${(row.share * 100).toFixed(1).padStart(5)}%  ${row.name}`);
} finally {
  await ams.broker.stop();
  snap.remove();
}
