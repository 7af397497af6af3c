/**
 * Emitting a lifecycle event (names and fields: protocol/events.ts): one JSON
 * line on the log, and one data point in the Analytics Engine dataset when the
 * deployment binds one (`AMS_METRICS`; local runs and tests have none).
 */
import { dataPointOf, eventLine, type EventFields, type EventName } from '../protocol/events';

/**
 * Analytics Engine takes at most 250 data points per invocation; the log lines
 * are never capped. The runtime enforces that limit itself (a point past it is
 * refused, and `emit` swallows the refusal), so this counter only keeps a
 * burst from asking: it allows 250 per clock tick. A Worker's clock stands
 * still until I/O completes, and every burst — a rotation or deletion closing
 * many sockets, sheds in one fan-out, the deletion's loop over conversations —
 * runs in one synchronous stretch, so a burst is one tick; between awaits an
 * invocation emits a few events at most (decision 0148).
 */
export const POINTS_PER_TICK = 250;
let tick = 0;
let written = 0;

export function emit<N extends EventName>(env: { AMS_METRICS?: Pick<AnalyticsEngineDataset, 'writeDataPoint'> }, name: N, fields: EventFields[N]): void {
  console.log(eventLine(name, fields));
  const dataset = env.AMS_METRICS;
  if (!dataset) return;
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
