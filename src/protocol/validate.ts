/** Validation shared by the control plane, the connect path, the HTTP stream routes and MCP. */
import { LIMITS } from './limits';
import type { JsonObject } from './frames';

export const NAMESPACE_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const ALIAS_RE = NAMESPACE_RE;
export const STREAM_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function isJsonObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Whether a JSON value nests no deeper than `max` (a scalar is 0, `{}` and
 * `[]` are 1). Walked with an explicit stack, so no input can exhaust ours.
 */
export function withinDepth(value: unknown, max: number = LIMITS.jsonDepth): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return false;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return true;
}

/** A metadata object the broker will carry: a JSON object no larger and no deeper than the limits, well-formed text. */
export function isAcceptableMetadata(value: unknown): value is JsonObject {
  if (!isJsonObject(value) || !withinDepth(value)) return false;
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    return false;
  }
  return text.isWellFormed() && new TextEncoder().encode(text).length <= LIMITS.metadataBytes;
}

/**
 * A conversation's instructions: plain text of at most 2,000 code points,
 * well-formed, without control characters a terminal or a renderer would act
 * on (tab and line breaks are text). Empty clears them.
 */
export function isAcceptableInstructions(value: unknown): value is string {
  if (typeof value !== 'string' || !value.isWellFormed()) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(value)) return false;
  let n = 0;
  for (const _ of value) if (++n > LIMITS.instructionsChars) return false;
  return true;
}

/** `X-AMS-Stream-Metadata`: base64 (standard or url-safe) of a UTF-8 JSON object. */
export function decodeMetadataHeader(value: string): JsonObject | undefined {
  const b64 = value.trim().replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length > LIMITS.metadataBytes * 2) return undefined;
  let bytes: Uint8Array;
  try {
    const bin = atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '='));
    bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  return isAcceptableMetadata(parsed) ? parsed : undefined;
}

/** Boolean flags given as headers or query parameters: `true`/`1` (any case) opt in. */
export function parseFlag(value: string | null | undefined): boolean {
  if (value == null) return false;
  const v = value.trim().toLowerCase();
  return v === 'true' || v === '1';
}

/** A resume cursor: absent, a non-negative safe integer, or invalid. */
export function parseCursor(value: string | null | undefined): number | undefined | 'invalid' {
  if (value == null || value === '') return undefined;
  if (!/^\d{1,15}$/.test(value.trim())) return 'invalid';
  return Number(value.trim());
}

export const EPOCH_RE = /^[A-Za-z0-9_-]{1,64}$/;
