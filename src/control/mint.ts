/**
 * Minting a conversation, the part without objects: validate the request,
 * build the records, and sign the links. The calls into the account and
 * conversation objects are in src/conversation/mint.ts.
 */
import type { Env } from './env';
import { secretsOf } from './env';
import { derivedConversationId, newConversationId, newEpoch, newStreamId, newStreamName } from './ids';
import { magicLink, signLink } from './links';
import { AmsError } from '../protocol/errors';
import type { JsonObject, Scope } from '../protocol/frames';
import { LIMITS } from '../protocol/limits';
import { ALIAS_RE, STREAM_NAME_RE, isAcceptableInstructions, isAcceptableMetadata, isJsonObject } from '../protocol/validate';
import type { ConversationRecord, HistorySettings, IdKind, StreamRecord } from '../protocol/records';

export interface MintRequest {
  alias?: string;
  stream_name?: string;
  metadata: JsonObject;
  stream_metadata: JsonObject;
  id_kind: IdKind;
  id_input?: unknown;
  history: HistorySettings;
  utterance_gap_ms: number;
  max_listeners?: number;
  /** The conversation's purpose, told to every agent that arrives; '' for none. */
  instructions: string;
}

/** Validates a mint body field by field; each bad field has its own error code. */
export function parseMintRequest(body: JsonObject): MintRequest {
  const { alias, stream_name, metadata, stream_metadata, id_kind, id_input, history, utterance_gap_ms: gap, audience, instructions } = body;
  if (alias !== undefined && (typeof alias !== 'string' || !ALIAS_RE.test(alias))) throw new AmsError('invalid_alias');
  if (stream_name !== undefined && (typeof stream_name !== 'string' || !STREAM_NAME_RE.test(stream_name))) throw new AmsError('invalid_stream_name');
  if (metadata !== undefined && !isAcceptableMetadata(metadata)) throw new AmsError('invalid_metadata');
  if (stream_metadata !== undefined && !isAcceptableMetadata(stream_metadata)) throw new AmsError('invalid_stream_metadata');
  let kind: IdKind = 'ulid';
  if (id_kind !== undefined) {
    if (id_kind === 'ulid' || id_kind === 'uuid') kind = 'ulid';
    else if (id_kind === 'jcs-sha256') kind = 'jcs-sha256';
    else throw new AmsError('unsupported_id_kind');
  }
  if (kind === 'jcs-sha256' && (id_input === undefined || derivedConversationId(id_input) === undefined)) throw new AmsError('invalid_id_input');
  if (gap !== undefined && (typeof gap !== 'number' || !Number.isInteger(gap) || gap < LIMITS.utteranceGapMinMs || gap > LIMITS.utteranceGapMaxMs)) {
    throw new AmsError('invalid_utterance_gap');
  }
  if (instructions !== undefined) parseInstructions(instructions);
  return {
    alias: alias as string | undefined,
    stream_name: stream_name as string | undefined,
    metadata: (metadata as JsonObject | undefined) ?? {},
    stream_metadata: (stream_metadata as JsonObject | undefined) ?? {},
    id_kind: kind,
    id_input,
    history: parseHistory(history),
    utterance_gap_ms: (gap as number | undefined) ?? LIMITS.utteranceGapDefaultMs,
    ...parseAudience(audience),
    instructions: (instructions as string | undefined) ?? '',
  };
}

/** Instructions as given at mint or in a PATCH, or `400 invalid_instructions`. */
export function parseInstructions(value: unknown): string {
  if (!isAcceptableInstructions(value)) throw new AmsError('invalid_instructions');
  return value;
}

function parseAudience(value: unknown): { max_listeners?: number } {
  if (value === undefined) return {};
  const max = isJsonObject(value) ? value.max_listeners : undefined;
  if (max === undefined && isJsonObject(value) && Object.keys(value).length === 0) return {};
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > LIMITS.listenerBudgetCap) throw new AmsError('invalid_audience');
  return { max_listeners: max };
}

function parseHistory(value: unknown): HistorySettings {
  const settings: HistorySettings = { max_frames: LIMITS.historyMaxFrames, max_age_s: LIMITS.historyMaxAgeSeconds };
  if (value === undefined) return settings;
  if (!isJsonObject(value)) throw new AmsError('invalid_history');
  for (const [key, cap] of [['max_frames', LIMITS.historyMaxFramesCap], ['max_age_s', LIMITS.historyMaxAgeSecondsCap]] as const) {
    const v = value[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > cap) throw new AmsError('invalid_history', `history.${key} must be an integer from 0 to ${cap}.`);
    settings[key] = v;
  }
  if (settings.max_age_s === 0) settings.max_frames = 0;
  if (settings.max_frames === 0) settings.max_age_s = 0;
  return settings;
}

export interface Links {
  magic_link: string;
  observer_link: string;
}

export function linksFor(env: Env, origin: string, record: ConversationRecord): Links {
  return {
    magic_link: linkFor(env, origin, record, 'write'),
    observer_link: linkFor(env, origin, record, 'read'),
  };
}

export function linkFor(env: Env, origin: string, record: ConversationRecord, scope: Scope, expiresAt?: number): string {
  const token = signLink(secretsOf(env).linkSecret, record.namespace, record.alias, {
    conversation_id: record.conversation_id, scope, generation: record.generation, expires_at: expiresAt, epoch: record.epoch,
  });
  return magicLink(origin, record.namespace, record.alias, token);
}

/**
 * The records a mint creates: the conversation's id, its alias when the
 * request fixes one (a derived id fixes `h-…`), the minter's stream, and the
 * conversation record for whichever alias is finally claimed.
 */
export function mintRecords(namespace: string, ownerAccountId: string, req: MintRequest) {
  const conversationId = req.id_kind === 'jcs-sha256' ? derivedConversationId(req.id_input)! : newConversationId();
  const explicitAlias = req.alias ?? (req.id_kind === 'jcs-sha256' ? `h-${conversationId.slice(5, 21)}` : undefined);
  const now = new Date().toISOString();
  const stream: StreamRecord = {
    stream_id: newStreamId(), stream_name: req.stream_name ?? newStreamName(), owner_account_id: ownerAccountId,
    metadata: req.stream_metadata, created_at: now, connected_once: false,
  };
  const epoch = newEpoch();
  const recordAt = (alias: string): ConversationRecord => ({
    conversation_id: conversationId, namespace, alias, id_kind: req.id_kind, metadata: req.metadata, created_at: now,
    owner_account_id: ownerAccountId, history: req.history, epoch, generation: 1, utterance_gap_ms: req.utterance_gap_ms, links_bind_epoch: true,
    ...(req.max_listeners !== undefined ? { max_listeners: req.max_listeners } : {}),
    ...(req.instructions !== '' ? { instructions: req.instructions } : {}),
  });
  return { conversationId, explicitAlias, stream, recordAt };
}
