/**
 * Event lines (decision 0148): every event the protocol names is emitted
 * somewhere in src/, and the Analytics Engine side is capped and never fails
 * the caller.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EVENTS, type EventName } from '../../src/protocol/events';
import { emit, POINTS_PER_TICK } from '../../src/control/events';

const SRC = new URL('../../src/', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [readFileSync(join(dir, e.name), 'utf8')] : []);
}

describe('event names', () => {
  it('every name in EVENTS has an emit site in src/, and no emit names an event EVENTS lacks', () => {
    const emitted = new Set<string>();
    for (const text of sources(SRC)) {
      for (const m of text.matchAll(/\bemit\([^,()]+(?:\([^()]*\))?,\s*'([a-z_]+\.[a-z_]+)'/g)) emitted.add(m[1]);
    }
    expect([...emitted].sort()).toEqual(Object.keys(EVENTS).sort());
  });
});

describe('emit', () => {
  afterEach(() => vi.restoreAllMocks());
  const fields = { ns: 'n', alias: 'a', path: 'ws' as const };

  it('writes one log line per event and at most POINTS_PER_TICK data points in one synchronous burst', () => {
    vi.spyOn(Date, 'now').mockReturnValue(1_000);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const writeDataPoint = vi.fn();
    for (let i = 0; i < POINTS_PER_TICK + 50; i++) emit({ AMS_METRICS: { writeDataPoint } }, 'consumer.shed', fields);
    expect(log).toHaveBeenCalledTimes(POINTS_PER_TICK + 50);
    expect(writeDataPoint).toHaveBeenCalledTimes(POINTS_PER_TICK);
    expect(writeDataPoint.mock.calls[0][0]).toEqual({ blobs: ['consumer.shed' as EventName, 'n', 'ws', '', ''], doubles: [1, 0], indexes: ['n'] });
  });

  it('a later turn (the clock moved, as it does only after I/O) has a budget of its own', () => {
    const now = vi.spyOn(Date, 'now').mockReturnValue(2_000);
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const writeDataPoint = vi.fn();
    for (let i = 0; i < POINTS_PER_TICK; i++) emit({ AMS_METRICS: { writeDataPoint } }, 'consumer.shed', fields);
    now.mockReturnValue(2_001);
    emit({ AMS_METRICS: { writeDataPoint } }, 'consumer.shed', fields);
    expect(writeDataPoint).toHaveBeenCalledTimes(POINTS_PER_TICK + 1);
  });

  it('a refused data point never fails the caller, and the line is still written; no binding, no data point', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    expect(() => emit({ AMS_METRICS: { writeDataPoint: () => { throw new Error('over the limit'); } } }, 'consumer.shed', fields)).not.toThrow();
    expect(() => emit({}, 'consumer.shed', fields)).not.toThrow();
    expect(log).toHaveBeenCalledTimes(2);
    expect(JSON.parse(String(log.mock.calls[0][0]))).toMatchObject({ ams_event: 'consumer.shed', ...fields });
  });
});
