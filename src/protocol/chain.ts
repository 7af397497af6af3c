/**
 * The conversation's hash chain (its context fingerprint):
 *   chain_0 = 32 zero bytes
 *   chain_n = SHA-256(chain_{n-1} ‖ UTF-8(JCS(frame_n without "chain")))
 * JCS is RFC 8785 canonical JSON. Hex-encoded on the wire.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { LoggedFrame, TokenFrame } from './frames';

export const GENESIS_CHAIN = '0'.repeat(64);

const encoder = new TextEncoder();
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * RFC 8785 (JCS) text of a JSON value: keys sorted by UTF-16 code units,
 * numbers and strings as ECMAScript's JSON.stringify writes them. That also
 * gives a lone surrogate (legal in opaque metadata and ids) its `\udXXX`
 * escape, where a strict JCS library would throw and fail the whole append.
 */
export function jcs(value: unknown): string {
  return jcsObject(value);
}

/** Text already written out, as opposed to a value still to canonicalise. */
class Piece {
  constructor(readonly text: string) {}
}

/**
 * The JCS text of `value` (with `skip` left out of a top-level object),
 * built with an explicit stack: depth costs heap, never the call stack, so no
 * nesting can make the chain throw (decisions/0100).
 */
function jcsObject(value: unknown, skip?: string): string {
  let out = '';
  const todo: unknown[] = [value];
  let top = true;
  while (todo.length > 0) {
    const v = todo.pop();
    if (v instanceof Piece) {
      out += v.text;
    } else if (v === null || typeof v !== 'object') {
      out += JSON.stringify(v);
    } else if (Array.isArray(v)) {
      // Pushed in reverse: the stack pops them in order.
      todo.push(new Piece(']'));
      for (let i = v.length - 1; i >= 0; i--) {
        todo.push(v[i] === undefined ? null : v[i]);
        if (i > 0) todo.push(new Piece(','));
      }
      out += '[';
    } else {
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined && !(top && k === skip)).sort();
      todo.push(new Piece('}'));
      for (let i = keys.length - 1; i >= 0; i--) {
        todo.push(obj[keys[i]]);
        todo.push(new Piece(`${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:`));
      }
      out += '{';
    }
    top = false;
  }
  return out;
}

/** The canonical text of a logged frame, as hashed (any `chain` already on it left out). */
export function canonicalFrame(frame: LoggedFrame): string {
  return jcsObject(frame, 'chain');
}

/** Every field a TokenFrame can have, in JCS order; the type check below fails when TokenFrame gains one. */
const TOKEN_KEYS = ['data', 'end', 'id', 'owner_account_id', 'ref', 'seq', 'stream_id', 'stream_name', 'ts', 'type'] as const;
const tokenKeysComplete: Exclude<keyof TokenFrame, (typeof TOKEN_KEYS)[number]> extends never ? true : false = true;
void tokenKeysComplete;

const q = JSON.stringify;

/**
 * `canonicalFrame` for a token frame the broker just built (hence no stray
 * fields): the same text, written directly. The hot path of every emit.
 */
export function canonicalToken(f: TokenFrame): string {
  return `{"data":${q(f.data)}${f.end === undefined ? '' : `,"end":${q(f.end)}`}${f.id === undefined ? '' : `,"id":${q(f.id)}`},"owner_account_id":${q(f.owner_account_id)}${f.ref === undefined ? '' : `,"ref":${q(f.ref)}`},"seq":${q(f.seq)},"stream_id":${q(f.stream_id)},"stream_name":${q(f.stream_name)},"ts":${q(f.ts)},"type":"token"}`;
}

// One reusable input buffer, [previous chain | canonical text], and the chain it starts with.
let scratch = new Uint8Array(4096);
let scratchChain = '';

/** chain_n from chain_{n-1} (hex) and the canonical text of frame n. */
export function chainStep(previousHex: string, canonical: string): string {
  if (scratch.length < 32 + canonical.length * 3) {
    scratch = new Uint8Array(32 + canonical.length * 3);
    scratchChain = '';
  }
  if (previousHex !== scratchChain) {
    for (let i = 0; i < 32; i++) scratch[i] = parseInt(previousHex.slice(i * 2, i * 2 + 2), 16);
  }
  const { written } = encoder.encodeInto(canonical, scratch.subarray(32));
  const digest = sha256(scratch.subarray(0, 32 + written));
  scratch.set(digest, 0);
  let hex = '';
  for (let i = 0; i < 32; i++) hex += HEX[digest[i]];
  scratchChain = hex;
  return hex;
}

export function nextChain(previousHex: string, frame: LoggedFrame): string {
  return chainStep(previousHex, canonicalFrame(frame));
}

/** Adds `"chain"` to an already-serialized frame without re-serializing it. */
export function withChain(json: string, chain: string): string {
  return `${json.slice(0, -1)},"chain":"${chain}"}`;
}
