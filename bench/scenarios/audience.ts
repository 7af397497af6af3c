/**
 * Audience: one writer → N read-only listeners (1,000 and 5,000). A broker
 * that caps connections (AMS admits 1,000 per conversation today, `4913`
 * beyond) is measured with the listeners it admitted, and the refusals are
 * reported as such. Which link AMS listeners use is the target's choice
 * (`AmsClientOptions.listenerLink`), so the same scenario measures audience
 * shards once listeners can be sent to them.
 */
import type { Target } from '../targets/target';
import { EMIT_PACE, PAYLOAD_BYTES, weighed, type Measured } from './traffic';

export interface AudienceResult extends Measured {
  asked: number;
  admitted: number;
  /** Close code → listeners refused with it. */
  refused: Record<string, number>;
}

export const AUDIENCES = [1_000, 5_000];
/** Tokens the writer sends to N listeners: 200 to 1,000, 100 to 5,000 (200,000 and up to 500,000 deliveries). */
export const audienceTokens = (n: number, quick: boolean) => (quick ? 20 : n >= 5_000 ? 100 : 200);

export async function audience(t: Target, n: number, tokens: number): Promise<AudienceResult> {
  const room = await t.room({ owners: [1], listeners: n, refusable: true });
  try {
    const admitted = room.listeners.length;
    const refused = Object.fromEntries([...(room.refused ?? new Map<number, number>())].map(([code, count]) => [String(code), count]));
    if (admitted === 0) throw new Error(`every listener was refused: ${JSON.stringify(refused)}`);
    const r = await weighed(t, [room], { tokensPerPublisher: tokens, window: 512, windowScope: 'global', rate: EMIT_PACE, payloadBytes: PAYLOAD_BYTES, stallMs: 60_000 });
    return { ...r, asked: n, admitted, refused };
  } finally {
    await room.close();
  }
}
