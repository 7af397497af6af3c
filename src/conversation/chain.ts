/**
 * The conversation's hash chain (its context fingerprint):
 *   chain_0 = 32 zero bytes
 *   chain_n = SHA-256(chain_{n-1} ‖ UTF-8(JCS(frame_n without "chain")))
 * JCS is RFC 8785 canonical JSON. Hex-encoded on the wire.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../control/encoding';
import type { LoggedFrame } from '../protocol/frames';

export const GENESIS_CHAIN = '0'.repeat(64);

const encoder = new TextEncoder();

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * RFC 8785 (JCS) text of a JSON value: keys sorted by UTF-16 code units,
 * numbers and strings as ECMAScript's JSON.stringify writes them. That also
 * gives a lone surrogate (legal in opaque metadata and ids) its `\udXXX`
 * escape, where a strict JCS library would throw and fail the whole append.
 */
export function jcs(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : jcs(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs(obj[k])}`).join(',')}}`;
}

/** The canonical text of a logged frame, as hashed. */
export function canonicalFrame(frame: LoggedFrame): string {
  const { chain: _omit, ...rest } = frame as LoggedFrame & { chain?: string };
  return jcs(rest);
}

export function nextChain(previousHex: string, frame: LoggedFrame): string {
  const prev = fromHex(previousHex);
  const body = encoder.encode(canonicalFrame(frame));
  const input = new Uint8Array(prev.length + body.length);
  input.set(prev, 0);
  input.set(body, prev.length);
  return toHex(sha256(input));
}

/** Adds `"chain"` to an already-serialized frame without re-serializing it. */
export function withChain(json: string, chain: string): string {
  return `${json.slice(0, -1)},"chain":"${chain}"}`;
}
