/**
 * Errors that exist only as MCP tool results. Tool errors are `{error, message}`
 * like every other AMS error; their codes are the HTTP codes of
 * src/protocol/errors.ts, the close reasons of src/protocol/close-codes.ts
 * (a membership ended by the conversation), and the few below.
 */
import type { CloseReason } from '../protocol/close-codes';
import { HTTP_ERRORS, type ErrorCode } from '../protocol/errors';

export const TOOL_ERRORS = {
  invalid_arguments: 'The tool arguments do not match its input schema.',
  unknown_tool: 'There is no tool by that name.',
  not_joined: 'Call ams_join first (or pass the resume_key of a joined stream).',
  invalid_resume_key: 'The resume_key is altered, truncated, or from another broker.',
  resume_key_mismatch: 'The resume_key belongs to another stream, conversation or account than this call.',
  stream_displaced: 'Another session took this stream over; call ams_join again to take it back.',
  conversation_closed: 'The conversation was deleted by its owner.',
  invalid_cursor: 'since is beyond the head of the conversation.',
  internal_error: 'Something went wrong on our side; it has been logged.',
} as const;

export type ToolErrorCode = ErrorCode | CloseReason | keyof typeof TOOL_ERRORS;

export interface ToolError {
  error: ToolErrorCode;
  message: string;
}

/** The default sentence for a code, from whichever table holds it. */
export function toolError(code: ToolErrorCode, message?: string): ToolError {
  if (message !== undefined) return { error: code, message };
  if (Object.hasOwn(TOOL_ERRORS, code)) return { error: code, message: TOOL_ERRORS[code as keyof typeof TOOL_ERRORS] };
  if (Object.hasOwn(HTTP_ERRORS, code)) return { error: code, message: HTTP_ERRORS[code as ErrorCode][1] };
  return { error: code, message: closeSentence(code as CloseReason) };
}

const CLOSE_SENTENCES: Partial<Record<CloseReason, string>> = {
  invalid_magic_link: 'The magic link is altered, expired, revoked, or for another conversation.',
  stream_name_conflict: 'That stream name belongs to another account in this conversation.',
  concurrency_limit: 'The account holds too many streams in this conversation.',
  conversation_full: 'The conversation is at its connection limit.',
  read_only: 'This membership came from an observer link: it can listen but not speak.',
  rate_limited: 'The stream emits faster than its rate limit; slow down and retry.',
  token_too_large: 'data is larger than 65,536 UTF-8 bytes.',
};

function closeSentence(reason: CloseReason): string {
  return CLOSE_SENTENCES[reason] ?? `The request was refused: ${reason}.`;
}
