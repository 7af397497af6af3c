/**
 * Minting, the part that talks to objects: claim a derived id in the account
 * object, then claim the address `{namespace}/{alias}` in its conversation
 * object (atomic, so an alias is never given twice), registering the minter's
 * stream. Shared by `POST /v1/{ns}/conversations` and MCP's
 * `ams_create_conversation`; the request itself is checked in control/mint.ts.
 */
import { accountStub } from '../control/account-stub';
import type { Env } from '../control/env';
import { emit } from '../control/events';
import { newAlias } from '../control/ids';
import { linksFor, mintRecords, type MintRequest } from '../control/mint';
import { AmsError } from '../protocol/errors';
import { conversationStub } from './conversation-stub';

export async function mintConversation(env: Env, origin: string, namespace: string, ownerAccountId: string, req: MintRequest) {
  const { conversationId, explicitAlias, stream, recordAt } = mintRecords(namespace, ownerAccountId, req);
  if (req.id_kind === 'jcs-sha256' && !(await accountStub(env, namespace).claimDerivedId(conversationId, explicitAlias!))) {
    throw new AmsError('conversation_exists');
  }
  try {
    for (let attempt = 0; ; attempt++) {
      const record = recordAt(explicitAlias ?? newAlias());
      if (await conversationStub(env, namespace, record.alias).create(record, stream)) {
        // The account lists and deletes what it minted (decision 0145).
        await accountStub(env, namespace).noteMinted({ alias: record.alias, conversation_id: conversationId, created_at: record.created_at });
        emit(env, 'conversation.minted', { ns: namespace, alias: record.alias, conversation: conversationId, account: ownerAccountId });
        return {
          conversation_id: conversationId,
          alias: record.alias,
          ...linksFor(env, origin, record),
          stream_id: stream.stream_id,
          stream_name: stream.stream_name,
          metadata: record.metadata,
          stream_metadata: stream.metadata,
          created_at: record.created_at,
          id_kind: record.id_kind,
          history: record.history,
          utterance_gap_ms: req.utterance_gap_ms,
          epoch: record.epoch,
          instructions: req.instructions,
        };
      }
      if (explicitAlias !== undefined) throw new AmsError('alias_taken', `The alias "${record.alias}" is already used in namespace "${namespace}".`);
      if (attempt >= 8) throw new AmsError('internal_error', 'Could not find a free alias; pass one explicitly.');
    }
  } catch (err) {
    if (req.id_kind === 'jcs-sha256') await accountStub(env, namespace).releaseDerivedId(conversationId);
    throw err;
  }
}
