/**
 * Memory: resident memory the server gains per 1,000 idle subscriber
 * connections (rooms × listeners), read from /proc before and after. Run
 * first, before traffic leaves garbage a collector might free meanwhile.
 */
import { rssBytes } from '../lib/proc';
import { sleep } from '../lib/stats';
import type { Room, Target } from '../targets/target';

export interface MemoryResult {
  connections: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** MiB of resident memory per 1,000 idle connections. */
  perThousandMiB: number;
}

const MiB = 1024 * 1024;

function rssOf(t: Target): number {
  return t.pids().reduce((sum, pid) => sum + (rssBytes(pid) ?? 0), 0);
}

export async function memory(t: Target, rooms: number, perRoom: number): Promise<MemoryResult> {
  // Rooms exist with one listener each (for AMS: their objects are loaded) before the first reading.
  const open: Room[] = [];
  try {
    for (let i = 0; i < rooms; i++) open.push(await t.room({ owners: [], listeners: 1 }));
    await sleep(1_500);
    const before = rssOf(t);
    for (const room of open) await room.addListeners(perRoom);
    await sleep(2_000);
    const after = rssOf(t);
    const connections = rooms * perRoom;
    return {
      connections,
      rssBeforeMiB: before / MiB,
      rssAfterMiB: after / MiB,
      perThousandMiB: ((after - before) / MiB / connections) * 1_000,
    };
  } finally {
    await Promise.all(open.map((r) => r.close()));
  }
}
