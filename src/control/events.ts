/**
 * Emitting a lifecycle event (names and fields: protocol/events.ts): one JSON
 * line on the log, and one data point in the Analytics Engine dataset when the
 * deployment binds one (`AMS_METRICS`; local runs and tests have none).
 */
import { dataPointOf, eventLine, type EventFields, type EventName } from '../protocol/events';
import type { Env } from './env';

/** Analytics Engine takes at most 250 data points per invocation; the log lines are never capped. */
const POINTS_PER_TICK = 250;
let tick = 0;
let written = 0;

export function emit<N extends EventName>(env: Pick<Env, 'AMS_METRICS'>, name: N, fields: EventFields[N]): void {
  console.log(eventLine(name, fields));
  const dataset = env.AMS_METRICS;
  if (!dataset) return;
  // The clock stands still while one invocation runs without I/O, so this bounds each burst (a rotation closing many sockets).
  const now = Date.now();
  if (now !== tick) {
    tick = now;
    written = 0;
  }
  if (written >= POINTS_PER_TICK) return;
  written++;
  try {
    dataset.writeDataPoint(dataPointOf(name, fields));
  } catch {
    // Metrics are best effort: a refused data point must never fail the request it describes.
  }
}
