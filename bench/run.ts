/**
 * `npm run bench`: AMS as deployed (`npm run serve`: the Worker outermost in
 * plain workerd), beside AMS on `wrangler dev` (`npm start`) and, in the same
 * run on the same machine with the same client harness, a bare `ws` relay, a
 * bare Durable Object relay, NATS and NATS JetStream (WebSocket listener),
 * Redis pub/sub and Redis Streams when installed. Prints a table and
 * writes bench/results/latest.json. Any lost, duplicated, misrouted or
 * reordered delivery fails the run (exit code 1).
 *
 * Options: --quick (small counts, a smoke run), --ref=<git ref> (benchmark a
 * commit instead of the working tree), --only=hop,fanout,compression,audience,many,resume,mcp,utterances,memory,
 * --no-baselines, --no-dev (no wrangler dev rows), --no-disk, --no-compression (AMS clients decline
 * permessage-deflate instead of offering it as default clients do), --no-profile
 * (skip the audience rows' profiled repeats, which weigh the conversation object apart).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { cpuBusyPercent, describeMachine } from './lib/machine';
import { snapshot, variantOf, ROOT } from './lib/snapshot';
import { compressionCase, reverseCompression, serverAccepts } from './scenarios/compression';
import { CorrectnessError } from './lib/traffic';
import { devRuntime, startServed, startWorkerd, type Runtime } from './lib/workerd';
import type { Broker } from '../test/support/broker';
import { fileSystemOf } from './lib/proc';
import { AMS, render, type ByTarget, type Entry, type Results } from './report';
import { goals } from './goals';
import { memory } from './scenarios/memory';
import { mcpAvailable, mcpHop } from './scenarios/mcp';
import { utterances } from './scenarios/utterances';
import { amsResume, redisStreamResume } from './scenarios/resume';
import { FULL, QUICK, fanout, hop, many } from './scenarios/traffic';
import { AmsTarget } from './targets/ams';
import { JetStreamTarget, NatsTarget } from './targets/nats';
import { RedisStreamsTarget, RedisTarget } from './targets/redis';
import { AUDIENCES, audience, audienceObjectCpu, audienceTokens } from './scenarios/audience';
import { RelayTarget } from './targets/relay';
import type { Target } from './targets/target';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const quick = flag('quick');
const scale = quick ? QUICK : FULL;
const only = option('only')?.split(',');
const runs = (scenario: string) => !only || only.includes(scenario);
const DEV = 'AMS on wrangler dev';
/** AMS clients offer permessage-deflate as default clients do (0080); --no-compression declines it, as runs before 0080 did. */
const client = { compression: !flag('no-compression') };
const DISK = 'AMS, state on disk';

const failures: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
const cleanup = () => (cleaning ??= (async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
})());
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));

async function measure<T>(label: string, fn: () => Promise<T>): Promise<Entry<T>> {
  process.stderr.write(`  ${label} … `);
  const started = performance.now();
  try {
    const value = await fn();
    process.stderr.write(`${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    return { status: 'ok', ...value };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`FAILED\n${message}\n`);
    failures.push(`${label}: ${err instanceof CorrectnessError ? '' : '(error) '}${message}`);
    return { status: 'failed', error: message };
  }
}

async function main(): Promise<number> {
  const startedAt = new Date().toISOString();
  const loadBefore = os.loadavg();
  const cpuBusyBeforePct = await cpuBusyPercent();
  const snap = snapshot(option('ref'));
  cleanups.push(async () => snap.remove());
  // The primary AMS runs as deployed (`npm run serve`: the Worker outermost in plain workerd) and keeps its
  // state in RAM when it can: a commit then costs what the runtime costs, not this VM's fsync.
  const ramDir = existsSync('/dev/shm') ? '/dev/shm' : undefined;
  process.stderr.write(`starting npm run serve's runtime on a snapshot of the ${snap.source} …\n`);
  const ams = await startServed(snap.dir, ramDir);
  cleanups.push(async () => rmSync(ams.broker.stateDir, { recursive: true, force: true }));
  cleanups.push(() => ams.broker.stop());
  const brokers: { label: string; broker: Broker }[] = [{ label: AMS, broker: ams.broker }];
  const stateFs = fileSystemOf(ams.broker.stateDir);

  const results: Results = {
    meta: {}, targets: {}, hop: {}, fanout: {}, compression: {}, audience: {}, many: {}, resume: {}, mcp: {}, utterances: {}, memory: {}, goals: [], failures,
  };
  const amsTarget = new AmsTarget(AMS, ams.url, ams.pids, undefined, client);
  const targets: Target[] = [amsTarget];
  /** Rows that run only some scenarios. */
  const partial = new Map<string, Set<string>>();
  results.targets[AMS] = { status: 'ok', version: `${ams.describe}; AMS_ENV=development; state on ${stateFs}`, url: amsTarget.base };
  if (!flag('no-disk')) {
    const disk = await startServed(snap.dir);
    cleanups.push(async () => rmSync(disk.broker.stateDir, { recursive: true, force: true }));
    cleanups.push(() => disk.broker.stop());
    brokers.push({ label: DISK, broker: disk.broker });
    const t = new AmsTarget(DISK, disk.url, disk.pids, undefined, client);
    targets.push(t);
    partial.set(DISK, new Set(['hop', 'fanout10', 'many']));
    results.targets[DISK] = { status: 'ok', version: `npm run serve; state on ${fileSystemOf(disk.broker.stateDir)} (${disk.broker.stateDir})`, url: t.base };
  }
  let dev: Runtime | undefined;
  if (!flag('no-dev')) {
    process.stderr.write('starting wrangler dev (npm start) on the same snapshot …\n');
    dev = devRuntime(await startWorkerd(snap.dir, ramDir));
    cleanups.push(async () => rmSync(dev!.broker.stateDir, { recursive: true, force: true }));
    cleanups.push(() => dev!.broker.stop());
    brokers.push({ label: DEV, broker: dev.broker });
    targets.push(new AmsTarget(DEV, dev.url, dev.pids, undefined, client));
    partial.set(DEV, new Set(['hop', 'fanout1', 'fanout10', 'fanout100']));
    results.targets[DEV] = { status: 'ok', version: `${dev.describe}; AMS_ENV=development; state on ${fileSystemOf(dev.broker.stateDir)}`, url: dev.url };
  }
  let redis: RedisTarget | undefined;
  if (!flag('no-baselines')) {
    const doRelay = await RelayTarget.startWorkerd();
    cleanups.push(() => doRelay.stop());
    targets.push(doRelay);
    results.targets[doRelay.name] = { status: 'ok', version: `bench/do-relay on workerd ${describeMachine(ROOT).workerd}` };
    const relay = await RelayTarget.startNode();
    cleanups.push(() => relay.stop());
    targets.push(relay);
    results.targets[relay.name] = { status: 'ok', version: `Node ${process.version}, ws ${describeMachine(ROOT).ws}` };
    const n = await NatsTarget.start();
    if (typeof n === 'string') results.targets['NATS (ws)'] = { status: 'skipped', reason: n };
    else {
      cleanups.push(() => n.stop());
      targets.push(n);
      results.targets[n.name] = { status: 'ok', version: n.version };
    }
    const r = await RedisTarget.start();
    if (typeof r === 'string') results.targets['Redis pub/sub'] = { status: 'skipped', reason: r };
    else {
      redis = r;
      cleanups.push(() => r.stop());
      targets.push(r);
      results.targets[r.name] = { status: 'ok', version: r.version };
    }
    // Durable peers: they store every message before delivering it, as AMS does; their store sits on AMS's file system.
    const js = await JetStreamTarget.start(ramDir);
    if (typeof js === 'string') results.targets['NATS JetStream (ws)'] = { status: 'skipped', reason: js };
    else {
      cleanups.push(() => js.stop());
      targets.push(js);
      results.targets[js.name] = { status: 'ok', version: js.version };
    }
    const rs = await RedisStreamsTarget.start(ramDir);
    if (typeof rs === 'string') results.targets['Redis Streams'] = { status: 'skipped', reason: rs };
    else {
      cleanups.push(() => rs.stop());
      targets.push(rs);
      results.targets[rs.name] = { status: 'ok', version: rs.version };
    }
  }
  for (const t of targets) t.onError = (m) => failures.push(`${t.name}: ${m}`);
  const skippedTargets = Object.entries(results.targets).filter(([, v]) => v.status === 'skipped') as [string, { status: 'skipped'; reason: string }][];
  const withSkipped = <T>(by: ByTarget<T>): ByTarget<T> => {
    for (const [name, v] of skippedTargets) by[name] = { status: 'skipped', reason: v.reason };
    return by;
  };
  const runsOn = (t: Target, scenario: string) => partial.get(t.name)?.has(scenario) ?? true;

  if (runs('memory')) {
    process.stderr.write('6. memory (first, while every process is fresh)\n');
    for (const t of targets) if (runsOn(t, 'memory')) results.memory[t.name] = await measure(`memory ${t.name}`, () => memory(t, 20, 100));
    withSkipped(results.memory);
  }
  process.stderr.write('warming up …\n');
  for (const t of targets) await measure(`warm-up ${t.name}`, () => fanout(t, 10, { ...QUICK, fanoutTokens: () => 200 }));

  if (runs('hop')) {
    process.stderr.write('1. hop latency\n');
    for (const t of targets) if (runsOn(t, 'hop')) results.hop[t.name] = await measure(`hop ${t.name}`, () => hop(t, scale));
    withSkipped(results.hop);
  }
  if (runs('fanout')) {
    process.stderr.write('2. fan-out\n');
    for (const n of [1, 10, 100]) {
      const by: ByTarget<Awaited<ReturnType<typeof fanout>>> = {};
      for (const t of targets) if (runsOn(t, `fanout${n}`)) by[t.name] = await measure(`fan-out 1 → ${n} ${t.name}`, () => fanout(t, n, scale));
      results.fanout[String(n)] = withSkipped(by);
    }
  }
  if (runs('compression')) {
    process.stderr.write('7. compression: 1 → 10 with the client offering permessage-deflate or not, with and without the no_web_socket_compression flag\n');
    const accepts = serverAccepts(readFileSync(join(snap.dir, 'wrangler.toml'), 'utf8'));
    const variant = variantOf(snap, reverseCompression, `the server's compression choice reversed`);
    cleanups.push(async () => variant.remove());
    const other = await startServed(variant.dir, ramDir);
    cleanups.push(async () => rmSync(other.broker.stateDir, { recursive: true, force: true }));
    cleanups.push(() => other.broker.stop());
    brokers.push({ label: 'AMS, compression choice reversed', broker: other.broker });
    const flagOf = (acc: boolean) => (acc ? 'no flag' : 'no_web_socket_compression');
    // Memory per idle connection as a default client gets it, on the reversed runtime while it is fresh; the configured one is row 6's AMS.
    if (runs('memory')) {
      const label = `AMS, ${flagOf(!accepts)} (flag reversed), default clients`;
      results.memory[label] = await measure(`memory ${label}`, () => memory(new AmsTarget(label, other.url, other.pids, undefined, client), 20, 100));
    }
    await measure('warm-up, compression choice reversed', () => compressionCase('warm-up', other.url, () => [], false, { ...QUICK, fanoutTokens: () => 200 }, (m) => failures.push(m)));
    const servers = [
      { r: ams, accepts, what: 'as configured', where: 'npm run serve' },
      { r: other, accepts: !accepts, what: 'flag reversed', where: 'npm run serve' },
      ...(dev ? [{ r: dev, accepts, what: 'as configured', where: 'wrangler dev' }] : []),
    ];
    for (const { r, accepts: acc, what, where } of servers) {
      for (const offered of [true, false]) {
        const label = `${flagOf(acc)} (${what}), ${where}, client ${offered ? 'offers' : 'declines'}`;
        results.compression[label] = await measure(`fan-out 1 → 10 ${label}`, () => compressionCase(label, r.url, r.pids, offered, scale, (m) => failures.push(`${label}: ${m}`)));
      }
    }
    await other.broker.stop();
  }
  if (runs('audience')) {
    process.stderr.write('8. audience: one writer → N read-only listeners\n');
    // The conversation object's own CPU comes from profiled repeats on a second broker of the same snapshot:
    // the profiler costs the runtime CPU, so it never runs in the process the timed rows weigh.
    let profiled: { b: Runtime; t: AmsTarget } | undefined;
    const profiledBroker = async () => {
      const b = await startServed(snap.dir, ramDir, { inspector: true });
      cleanups.push(async () => rmSync(b.broker.stateDir, { recursive: true, force: true }));
      cleanups.push(() => b.broker.stop());
      brokers.push({ label: 'AMS, profiled repeats', broker: b.broker });
      const t = new AmsTarget('AMS, profiled repeats', b.url, b.pids, undefined, client);
      t.onError = (m) => failures.push(`${t.name}: ${m}`);
      await audience(t, 100, 100);
      return { b, t };
    };
    for (const n of AUDIENCES) {
      const by: ByTarget<Awaited<ReturnType<typeof audience>>> = {};
      const tokens = audienceTokens(n, quick);
      for (const t of targets) if (runsOn(t, `audience${n}`)) by[t.name] = await measure(`audience 1 → ${n.toLocaleString('en-US')} ${t.name}`, () => audience(t, n, tokens));
      const a = by[AMS];
      if (a?.status === 'ok' && !flag('no-profile')) {
        const repeats = quick ? 1 : 3;
        const p = await measure(`audience 1 → ${n.toLocaleString('en-US')} ${AMS}, ${repeats} profiled repeat${repeats > 1 ? 's' : ''}`, async () => {
          profiled ??= await profiledBroker();
          return audienceObjectCpu(profiled.t, profiled.b.inspectorPort!, n, tokens, repeats);
        });
        if (p.status === 'ok') {
          const { status: _, ...objectCpu } = p;
          a.objectCpu = objectCpu;
        }
      }
      results.audience[String(n)] = withSkipped(by);
    }
    if (profiled) await profiled.b.broker.stop();
  }
  if (runs('many')) {
    process.stderr.write('3. many conversations\n');
    for (const t of targets) if (runsOn(t, 'many')) results.many[t.name] = await measure(`${scale.manyRooms} rooms × 4 ${t.name}`, () => many(t, scale));
    withSkipped(results.many);
  }
  if (runs('resume')) {
    process.stderr.write('4. resume\n');
    const frames = quick ? 2_000 : 10_000;
    results.resume[AMS] = await measure(`resume ${frames} ${AMS}`, () => amsResume(amsTarget, frames, quick ? 3 : 5));
    results.resume['workerd DO relay'] = { status: 'skipped', reason: 'a bare relay keeps no history' };
    results.resume['ws relay'] = { status: 'skipped', reason: 'a bare relay keeps no history' };
    results.resume['NATS (ws)'] = { status: 'skipped', reason: 'core NATS keeps no history (JetStream not measured)' };
    results.resume['Redis Streams (XRANGE)'] = redis
      ? await measure(`resume ${frames} Redis Streams`, () => redisStreamResume(redis!, frames, quick ? 3 : 5))
      : { status: 'skipped', reason: 'redis-server is not installed' };
  }
  if (runs('mcp')) {
    process.stderr.write('5. MCP\n');
    const missing = await mcpAvailable(amsTarget);
    results.mcp[AMS] = missing
      ? { status: 'skipped', reason: missing }
      : await measure('MCP ams_send → ams_recv', () => mcpHop(amsTarget, quick ? 50 : 300, quick ? 10 : 30));
  }
  if (runs('utterances')) {
    process.stderr.write('5b. Utterances: what a model pays to hear a peer\n');
    const missing = await mcpAvailable(amsTarget);
    results.utterances[AMS] = missing
      ? { status: 'skipped', reason: missing }
      : await measure('utterances through ams_recv and the channel push', () => utterances(amsTarget, quick ? 1 : 3, client.compression));
  }

  results.goals = goals(results, { ams: AMS, disk: DISK });
  results.targets[AMS] = { ...results.targets[AMS], negotiated: [...amsTarget.negotiated].map(([ext, n]) => `${ext} (${n.toLocaleString('en-US')} sockets)`).join(', ') } as never;
  results.meta = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: describeMachine(ROOT),
    cpuBusyBeforePct,
    loadBefore,
    loadAfter: os.loadavg(),
    source: snap.source,
    commit: snap.commit,
    dirty: snap.dirty,
    scale: quick ? 'quick' : 'full',
    clientCompression: client.compression,
    amsState: { dir: ams.broker.stateDir, fileSystem: stateFs },
    runtimes: { [AMS]: ams.describe, ...(dev ? { [DEV]: dev.describe } : {}) },
  };
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\n${render(results)}\n\nwritten: bench/results/latest.json\n`);
  if (failures.length > 0) {
    for (const b of brokers) process.stderr.write(`\n--- runtime output, ${b.label} (tail) ---\n${b.broker.output().slice(-4_000)}\n`);
  }
  return failures.length > 0 ? 1 : 0;
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (err) => {
    console.error(err);
    await cleanup();
    process.exit(1);
  });
