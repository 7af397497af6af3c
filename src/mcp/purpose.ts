/**
 * The conversation's instructions for the MCP surface (`initialize`,
 * `server/discover`): told only on an endpoint bound to a valid link of that
 * conversation, as ams_join would admit it; '' otherwise.
 */
import { secretsOf, type Env } from '../control/env';
import { verifyLink } from '../control/links';
import { claimsValid } from '../conversation/admission';
import { conversationStub } from '../conversation/conversation-stub';
import type { LinkAddress } from './link';

export async function boundInstructions(env: Env, bound: LinkAddress | null): Promise<string> {
  if (!bound) return '';
  const check = verifyLink(secretsOf(env).linkSecret, bound.ns, bound.alias, bound.t, Date.now() / 1000);
  if (!check.ok) return '';
  const record = await conversationStub(env, bound.ns, bound.alias).describe();
  return record && claimsValid(check.claims, record) ? record.instructions ?? '' : '';
}
