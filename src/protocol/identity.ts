/**
 * Who holds a stream: `{kind, client?, model?}`, declared by the connection
 * that holds it (WebSocket headers, `ams_join`, the MCP session's
 * `clientInfo`, the pages). Self-declared, so it describes and never
 * authenticates (decision 0155). Pure: the connect path, MCP and the readers
 * of transcripts share it.
 */
import { LIMITS } from './limits';

export const IDENTITY_KINDS = ['agent', 'human', 'service'] as const;
export type IdentityKind = (typeof IDENTITY_KINDS)[number];

export interface Identity {
  kind: IdentityKind;
  /** The program speaking, `name/version` by convention (an MCP session's `clientInfo`). */
  client?: string;
  /** The model behind it, as the holder names it. */
  model?: string;
}

/** What a stream's holder is when it declares nothing. */
export const DEFAULT_IDENTITY: Identity = Object.freeze({ kind: 'agent' });

/** C0 and C1 controls and DEL: what a terminal acts on and what breaks a line. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function isIdentityKind(value: unknown): value is IdentityKind {
  return typeof value === 'string' && (IDENTITY_KINDS as readonly string[]).includes(value);
}

/** A client or model string the broker carries: 1–128 characters, well-formed, no control characters. */
export function isIdentityText(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= LIMITS.identityTextChars && value.isWellFormed() && !CONTROL.test(value);
}

/**
 * An identity from declared parts, or why not: a `kind` outside the set, or a
 * client/model that is not identity text. An undeclared kind is `agent`.
 */
export function parseIdentity(parts: { kind?: unknown; client?: unknown; model?: unknown }): Identity | 'invalid' {
  const kind = parts.kind === undefined ? DEFAULT_IDENTITY.kind : parts.kind;
  if (!isIdentityKind(kind)) return 'invalid';
  const out: Identity = { kind };
  for (const key of ['client', 'model'] as const) {
    const v = parts[key];
    if (v === undefined) continue;
    if (!isIdentityText(v)) return 'invalid';
    out[key] = v;
  }
  return out;
}

/**
 * A client string from an MCP `clientInfo` (`name/version`), made carryable:
 * control characters dropped, cut to the limit. A client does not choose to
 * send a bad `clientInfo`, so it is cleaned, never refused (decision 0155).
 */
export function clientFromInfo(info: unknown): string | undefined {
  if (info === null || typeof info !== 'object') return undefined;
  const { name, version } = info as { name?: unknown; version?: unknown };
  if (typeof name !== 'string') return undefined;
  const clean = (s: string) => s.toWellFormed().replace(new RegExp(CONTROL.source, 'g'), '').trim();
  const n = clean(name);
  if (n === '') return undefined;
  const v = typeof version === 'string' ? clean(version) : '';
  const text = v === '' ? n : `${n}/${v}`;
  let cut = '';
  for (const ch of text) {
    if (cut.length + ch.length > LIMITS.identityTextChars) break;
    cut += ch;
  }
  return cut;
}

/** The name part of a client string: without a trailing `/version` (or ` version`) that starts with a digit or `v` and a digit. */
export function clientName(client: string): string {
  return client.replace(/[/ @]v?\d[^/ ]*$/i, '');
}

/** Longest slug kept, so `{slug}-{4 hex}` always fits the stream-name pattern (63 characters). */
const SLUG_MAX = 40;

/** A lowercase ASCII slug of a name: letters and digits, other runs as one `-`; empty when nothing is left. */
export function slugOf(name: string): string {
  const slug = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return slug.slice(0, SLUG_MAX).replace(/-+$/, '');
}

/**
 * What a default stream name is made from (decision 0156): the slug of the
 * client's name, else (MCP, which always names a participant after its
 * client) the kind; undefined when nothing was declared (then `stream-XXXXXX`).
 */
export function nameBaseOf(identity: Identity | undefined, fallbackToKind: boolean): string | undefined {
  const slug = identity?.client !== undefined ? slugOf(clientName(identity.client)) : '';
  if (slug !== '') return slug;
  if (fallbackToKind || identity?.client !== undefined) return identity?.kind ?? DEFAULT_IDENTITY.kind;
  return undefined;
}

/** How a transcript line describes a holder: `agent`, `agent, client claude-code/2.1.332, model m` (pinned in PROTOCOL §4.5). */
export function identityLabel(identity: Identity): string {
  return [identity.kind, ...(identity.client !== undefined ? [`client ${identity.client}`] : []), ...(identity.model !== undefined ? [`model ${identity.model}`] : [])].join(', ');
}

export function sameIdentity(a: Identity | undefined, b: Identity | undefined): boolean {
  return (a?.kind ?? DEFAULT_IDENTITY.kind) === (b?.kind ?? DEFAULT_IDENTITY.kind) && a?.client === b?.client && a?.model === b?.model;
}
