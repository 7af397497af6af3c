/**
 * Minting a conversation: validate the request, claim the address
 * `{namespace}/{alias}` in its conversation object (atomic, so an alias is
 * never given twice), register the minter's stream, and sign its links.
 * Shared by `POST /v1/{ns}/conversations` and MCP's `ams_create_conversation`.
 */
import type { Env } from './env';
import { secretsOf } from './env';
import { derivedConversationId, newAlias, newConversationId, newEpoch, newStreamId, newStreamName } from './ids';
import { magicLink, signLink } from './links';
import { accountStub, conversationStub } from './stubs';
import { AmsError } from '../protocol/errors';
import type { JsonObject, Scope } from '../protocol/frames';
import { LIMITS } from '../protocol/limits';
import { ALIAS_RE, STREAM_NAME_RE, isAcceptableMetadata, isJsonObject } from '../protocol/validate';
import type { ConversationRecord, HistorySettings, IdKind, StreamRecord } from '../conversation/store';

export interface MintRequest {
  alias?: string;
  stream_name?: string;
  metadata: JsonObject;
  stream_metadata: JsonObject;
  id_kind: IdKind;
  id_input?: unknown;
  history: HistorySettings;
}

/** Validates a mint body field by field; each bad field has its own error code. */
export function parseMintRequest(body: JsonObject): MintRequest {
  const { alias, stream_name, metadata, stream_metadata, id_kind, id_input, history } = body;
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
  return {
    alias: alias as string | undefined,
    stream_name: stream_name as string | undefined,
    metadata: (metadata as JsonObject | undefined) ?? {},
    stream_metadata: (stream_metadata as JsonObject | undefined) ?? {},
    id_kind: kind,
    id_input,
    history: parseHistory(history),
  };
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
    conversation_id: record.conversation_id, scope, generation: record.generation, expires_at: expiresAt,
  });
  return magicLink(origin, record.namespace, record.alias, token);
}

export async function mintConversation(env: Env, origin: string, namespace: string, ownerAccountId: string, req: MintRequest) {
  const conversationId = req.id_kind === 'jcs-sha256' ? derivedConversationId(req.id_input)! : newConversationId();
  const explicitAlias = req.alias ?? (req.id_kind === 'jcs-sha256' ? `h-${conversationId.slice(5, 21)}` : undefined);
  const now = new Date().toISOString();
  const stream: StreamRecord = {
    stream_id: newStreamId(), stream_name: req.stream_name ?? newStreamName(), owner_account_id: ownerAccountId,
    metadata: req.stream_metadata, created_at: now, connected_once: false,
  };
  if (req.id_kind === 'jcs-sha256' && !(await accountStub(env, namespace).claimDerivedId(conversationId, explicitAlias!))) {
    throw new AmsError('conversation_exists');
  }
  try {
    for (let attempt = 0; ; attempt++) {
      const alias = explicitAlias ?? newAlias();
      const record: ConversationRecord = {
        conversation_id: conversationId, namespace, alias, id_kind: req.id_kind, metadata: req.metadata, created_at: now,
        owner_account_id: ownerAccountId, history: req.history, epoch: newEpoch(), generation: 1,
      };
      if (await conversationStub(env, namespace, alias).create(record, stream)) {
        return {
          conversation_id: conversationId,
          alias,
          ...linksFor(env, origin, record),
          stream_id: stream.stream_id,
          stream_name: stream.stream_name,
          metadata: record.metadata,
          stream_metadata: stream.metadata,
          created_at: now,
          id_kind: record.id_kind,
          history: record.history,
          epoch: record.epoch,
        };
      }
      if (explicitAlias !== undefined) throw new AmsError('alias_taken', `The alias "${alias}" is already used in namespace "${namespace}".`);
      if (attempt >= 8) throw new AmsError('internal_error', 'Could not find a free alias; pass one explicitly.');
    }
  } catch (err) {
    if (req.id_kind === 'jcs-sha256') await accountStub(env, namespace).releaseDerivedId(conversationId);
    throw err;
  }
}
