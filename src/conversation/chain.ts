/**
 * The conversation's hash chain (its context fingerprint):
 *   chain_0 = 32 zero bytes
 *   chain_n = SHA-256(chain_{n-1} ‖ UTF-8(JCS(frame_n without "chain")))
 * JCS is RFC 8785 canonical JSON. Hex-encoded on the wire.
 */
import canonicalize from 'canonicalize';
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

/** The canonical text of a logged frame, as hashed. */
export function canonicalFrame(frame: LoggedFrame): string {
  const { chain: _omit, ...rest } = frame as LoggedFrame & { chain?: string };
  return canonicalize(rest) as string;
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
