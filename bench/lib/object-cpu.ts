/**
 * JavaScript CPU time per object inside one workerd isolate. `wrangler dev`
 * runs the Worker, every conversation object and every audience shard in one
 * isolate of one process, so /proc can only weigh their sum; a V8 CPU profile
 * taken through the inspector tells them apart.
 *
 * Each sample's stack is walked from its root — the event the runtime handed
 * to JavaScript: a socket message, an RPC call, a timer, a settled promise —
 * towards the sampled frame, to the first frame whose source module belongs
 * to one object (`ownerOf`). Libraries and modules that several objects run
 * (the wire encoders, admission, protocol/, control/) are walked past; a
 * stack that never reaches an owned module counts as "shared, caller
 * unknown". Modules are known from the bundle wrangler serves: esbuild writes
 * `// src/path.ts` before each module's code (`bundleModules`).
 *
 * What it weighs is time with JavaScript on the stack, which includes the
 * native calls JavaScript makes synchronously (a SQLite statement, a socket's
 * send(), serializing an RPC's arguments). The runtime's own work between
 * events — socket I/O, compression, carrying RPCs, commits — has no
 * JavaScript frame, and shows only in the process total.
 */
import { Inspector, type CpuProfile, type ProfileNode } from './cpu-profile';

export type Owner = 'conversation object' | 'audience shards' | 'Worker' | 'MCP' | 'accounts and client limits';
export const SHARED = 'shared, caller unknown';
export const LIBRARY = 'runtime and library JS';
export const GC = 'garbage collector';

/** Modules under src/conversation/ that the Worker or the shards run too: they name no owner. */
const SHARED_CONVERSATION = new Set(
  ['admission', 'audience', 'connections', 'conversation-stub', 'mint', 'wire', 'shards/rpc'].map((m) => `src/conversation/${m}.ts`),
);
const SHARD_MODULES = new Set(['src/conversation/shards/shard.ts', 'src/conversation/shards/log.ts']);

/** The object whose code a project module is, or undefined for shared modules and libraries. */
export function ownerOf(module: string): Owner | undefined {
  if (SHARD_MODULES.has(module)) return 'audience shards';
  if (module.startsWith('src/conversation/')) return SHARED_CONVERSATION.has(module) ? undefined : 'conversation object';
  if (module === 'src/index.ts' || module === 'src/app.ts' || module.startsWith('src/http/')) return 'Worker';
  if (module.startsWith('src/mcp/')) return 'MCP';
  if (module === 'src/control/account-object.ts' || module === 'src/control/client-limit.ts') return 'accounts and client limits';
  return undefined;
}

/** Line (0-based) → module of a non-minified esbuild bundle, from the `// path` comment that opens each module's code. */
export function bundleModules(source: string): (line: number) => string | undefined {
  const starts: { line: number; module: string }[] = [];
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\/\/ (\S+\.(?:ts|tsx|js|mjs|cjs|json))$/.exec(lines[i]);
    if (m) starts.push({ line: i, module: m[1].replace(/^(?:\.\.\/)+.*?node_modules\//, 'node_modules/') });
  }
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found: string | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid].line <= line) {
        found = starts[mid].module;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

export interface ObjectCpu {
  /** Sampling interval asked of V8 (µs). */
  intervalUs: number;
  /** The period the sampler kept while JavaScript ran: the median gap between two consecutive JavaScript samples (µs). */
  periodUs: number;
  /** Length of the profile (ms, wall clock). */
  wallMs: number;
  /** Per owner (plus SHARED, LIBRARY and GC): samples, and the JavaScript time they stand for (samples × period, ms). */
  js: Record<string, { samples: number; ms: number }>;
  /** Samples taken with no JavaScript on the stack (the runtime's own work, or idle). */
  outsideSamples: number;
  /** Per owner, the sampled functions with the most samples ("function (module)"; a native one with its caller), to check the attribution by eye. */
  top: Record<string, { frame: string; samples: number }[]>;
}

const OUTSIDE = new Set(['(root)', '(program)', '(idle)']);

/**
 * Attributes each sample to an owner. A sample stands for one sampling
 * period, not for the gap up to the next sample: V8 takes no sample while the
 * isolate is not running (between events, or while the thread is preempted),
 * so a gap after the last sample of an event is time spent elsewhere.
 * `moduleOf(scriptId, line)` names the source module of a frame.
 */
export function attribute(profile: CpuProfile, intervalUs: number, moduleOf: (scriptId: string, line: number) => string | undefined): ObjectCpu {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const verdict = new Map<number, string | null>();
  const classify = (leaf: ProfileNode): string | null => {
    if (leaf.callFrame.functionName === '(garbage collector)') return GC;
    if (OUTSIDE.has(leaf.callFrame.functionName)) return null;
    const stack: ProfileNode[] = [];
    for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) stack.push(byId.get(id)!);
    stack.reverse();
    let js = false;
    let project = false;
    for (const node of stack) {
      const f = node.callFrame;
      if (f.scriptId === '0') continue;
      js = true;
      const module = moduleOf(f.scriptId, f.lineNumber);
      if (module?.startsWith('src/')) project = true;
      const owner = module ? ownerOf(module) : undefined;
      if (owner) return owner;
    }
    return js ? (project ? SHARED : LIBRARY) : null;
  };
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const owners = samples.map((id) => {
    if (!verdict.has(id)) verdict.set(id, classify(byId.get(id)!));
    return verdict.get(id)!;
  });
  const gaps: number[] = [];
  for (let i = 1; i < samples.length; i++) if (owners[i] !== null && owners[i - 1] !== null && owners[i] !== GC && owners[i - 1] !== GC) gaps.push(deltas[i]);
  gaps.sort((a, b) => a - b);
  const periodUs = gaps.length > 0 ? gaps[Math.floor(gaps.length / 2)] : intervalUs;
  const frameName = (node: ProfileNode): string => {
    const f = node.callFrame;
    const name = `${f.functionName || '(anonymous)'}${f.scriptId === '0' ? '' : ` (${moduleOf(f.scriptId, f.lineNumber) ?? f.url})`}`;
    const up = parent.get(node.id);
    // A native leaf (a SQLite call, a socket's send) is named with the JavaScript that called it.
    return f.scriptId === '0' && up !== undefined && byId.get(up)!.callFrame.scriptId !== '0' ? `${name} ← ${frameName(byId.get(up)!)}` : name;
  };
  const js: ObjectCpu['js'] = {};
  const frames = new Map<string, Map<string, number>>();
  let outsideSamples = 0;
  owners.forEach((owner, i) => {
    if (owner === null) {
      outsideSamples++;
      return;
    }
    const entry = (js[owner] ??= { samples: 0, ms: 0 });
    entry.samples++;
    entry.ms += periodUs / 1000;
    const frame = frameName(byId.get(samples[i])!);
    const counts = frames.get(owner) ?? new Map<string, number>();
    counts.set(frame, (counts.get(frame) ?? 0) + 1);
    frames.set(owner, counts);
  });
  const top = Object.fromEntries([...frames].map(([owner, counts]) => [owner, [...counts].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([frame, n]) => ({ frame, samples: n }))]));
  return { intervalUs, periodUs, wallMs: (profile.endTime - profile.startTime) / 1000, js, outsideSamples, top };
}

/**
 * Profiles the isolate behind `inspectorPort` while `run` runs, then reads
 * the sources of the sampled scripts (the debugger is enabled only after the
 * profile stopped, so it costs the measured window nothing) and attributes.
 */
export async function profileObjects<T>(inspectorPort: number, intervalUs: number, run: () => Promise<T>): Promise<{ value: T; cpu: ObjectCpu; profile: CpuProfile }> {
  const inspector = await Inspector.connect(inspectorPort);
  try {
    await inspector.call('Profiler.enable');
    await inspector.call('Profiler.setSamplingInterval', { interval: intervalUs });
    await inspector.call('Profiler.start');
    let value: T;
    let profile: CpuProfile;
    try {
      value = await run();
    } finally {
      profile = (await inspector.call<{ profile: CpuProfile }>('Profiler.stop')).profile;
      await inspector.call('Profiler.disable');
    }
    const maps = new Map<string, (line: number) => string | undefined>();
    await inspector.call('Debugger.enable');
    try {
      for (const scriptId of new Set(profile.nodes.map((n) => n.callFrame.scriptId).filter((id) => id !== '0'))) {
        const { scriptSource } = await inspector.call<{ scriptSource: string }>('Debugger.getScriptSource', { scriptId });
        maps.set(scriptId, bundleModules(scriptSource));
      }
    } finally {
      await inspector.call('Debugger.disable');
    }
    const cpu = attribute(profile, intervalUs, (scriptId, line) => maps.get(scriptId)?.(line));
    if (!Object.keys(cpu.js).some((k) => k === 'conversation object' || k === 'audience shards')) {
      throw new Error('the profile names no project module: is the bundle minified, or did its `// src/…` comments change?');
    }
    return { value, cpu, profile };
  } finally {
    inspector.close();
  }
}
