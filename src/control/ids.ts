/** Identifiers: prefixed ULIDs, readable aliases, default stream names, derived conversation ids. */
import { ulid } from 'ulid';
import { sha256 } from '@noble/hashes/sha2.js';
import { jcs } from '../protocol/chain';
import { withinDepth } from '../protocol/validate';
import { toHex, randomBytes } from './encoding';

export const newAccountId = (): string => `acc_${ulid()}`;
export const newConversationId = (): string => `conv_${ulid()}`;
export const newStreamId = (): string => `str_${ulid()}`;
/** A webhook's id, which is also the identity its stream is owned by (never an account's). */
export const newWebhookId = (): string => `wh_${ulid()}`;
export const newEpoch = (): string => ulid().toLowerCase();

const ADJECTIVES = ['amber', 'brisk', 'calm', 'clever', 'coral', 'crisp', 'dusky', 'eager', 'fleet', 'gentle', 'golden', 'hazel', 'ivory', 'jolly', 'keen', 'lucid', 'mellow', 'misty', 'noble', 'olive', 'quiet', 'rapid', 'rustic', 'silver', 'steady', 'sunny', 'swift', 'tidal', 'velvet', 'vivid', 'witty', 'zesty'];
const NOUNS = ['falcon', 'harbor', 'comet', 'meadow', 'ember', 'pulse', 'river', 'summit', 'canyon', 'beacon', 'cedar', 'delta', 'fjord', 'glacier', 'heron', 'island', 'lantern', 'maple', 'nebula', 'orbit', 'pebble', 'quartz', 'raven', 'signal', 'thicket', 'tundra', 'valley', 'willow', 'zephyr', 'badger', 'otter', 'spark'];

function randomInt(below: number): number {
  const [n] = crypto.getRandomValues(new Uint32Array(1));
  return n % below;
}

/** A readable alias such as `falcon-pulse-9421`: about 20 bits, so minting retries on collision. */
export function newAlias(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}-${String(randomInt(10_000)).padStart(4, '0')}`;
}

const URL_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A default stream name: `{base}-` + 4 random hex digits when the holder
 * declared a client (`base` is its slug, decision 0156), else `stream-` + 6
 * random letters and digits. Either always matches the stream-name pattern.
 */
export function newStreamName(base?: string): string {
  if (base !== undefined) return `${base}-${toHex(randomBytes(2))}`;
  const bytes = randomBytes(6);
  let suffix = '';
  for (const b of bytes) suffix += URL_SAFE[b % URL_SAFE.length];
  return `stream-${suffix}`;
}

/**
 * `conv_` + hex(SHA-256(JCS(input))) — RFC 8785 canonical JSON, so every party
 * derives the same id. Undefined for input strict JCS cannot express: nothing,
 * a lone surrogate (the chain's `jcs` escapes those, decisions/0063; an id
 * others must recompute with any JCS library may not hold one), or nesting
 * deeper than `LIMITS.jsonDepth` (decisions/0100).
 */
export function derivedConversationId(input: unknown): string | undefined {
  if (input === undefined || !withinDepth(input) || !wellFormed(input)) return undefined;
  return `conv_${toHex(sha256(new TextEncoder().encode(jcs(input))))}`;
}

/** Whether every string in a JSON value, keys included, is well-formed UTF-16. */
function wellFormed(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) return value.every(wellFormed);
  return Object.entries(value).every(([k, v]) => k.isWellFormed() && wellFormed(v));
}
