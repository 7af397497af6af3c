import type { CloseReason } from './close-codes';

/**
 * Every error the broker names, with its default sentence: HTTP errors (as
 * `{error, message}` with their status), WebSocket close reasons (close-codes.ts
 * gives their codes) and MCP tool errors. One table: the code is the contract,
 * the status follows from it (null: never an HTTP answer), the message is a
 * default a call site may sharpen. PROTOCOL.md §Errors shows the HTTP rows.
 */
export const ERRORS = {
  invalid_json: [400, 'The request body is not a JSON object.'],
  invalid_namespace: [400, 'namespace must match ^[a-z0-9][a-z0-9-]{0,62}$.'],
  invalid_alias: [400, 'alias must match ^[a-z0-9][a-z0-9-]{0,62}$.'],
  invalid_stream_name: [400, 'stream_name must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$.'],
  invalid_metadata: [400, 'metadata must be a JSON object of at most 16 KiB, nested at most 32 deep.'],
  invalid_stream_metadata: [400, 'stream_metadata must be a JSON object of at most 16 KiB, nested at most 32 deep.'],
  invalid_identity: [400, 'identity.kind must be "agent", "human" or "service"; identity.client and identity.model at most 128 characters without control characters.'],
  unsupported_id_kind: [400, 'id_kind must be "ulid", "uuid" or "jcs-sha256".'],
  invalid_id_input: [400, 'id_kind "jcs-sha256" needs an id_input that is JSON nested at most 32 deep, without lone surrogates.'],
  invalid_history: [400, 'history must be {max_frames, max_age_s} with non-negative integers within the documented caps.'],
  invalid_utterance_gap: [400, 'utterance_gap_ms must be an integer number of milliseconds from 100 to 60000.'],
  invalid_audience: [400, 'audience must be {max_listeners} with an integer from 1 to 16000.'],
  invalid_instructions: [400, 'instructions must be plain text: a string of at most 2,000 characters, without control characters other than tab and line breaks.'],
  invalid_scope: [400, 'scope must be "write" or "read".'],
  invalid_expires_in: [400, 'expires_in must be a positive integer number of seconds, at most one year.'],
  invalid_cursor: [400, 'since and Last-Event-ID must be non-negative integers, epoch must be the conversation epoch format.'],
  invalid_page_cursor: [400, 'cursor must be the next_cursor of an earlier page of this list.'],
  invalid_limit: [400, 'limit must be an integer from 1 to 1000.'],
  invalid_token: [400, 'A token must be a string, or {data, id?, ref?, end?} with the documented types; ?end= must be true or false.'],
  invalid_ref: [400, 'ref must be the seq of a frame already in the conversation.'],
  invalid_subscription: [400, 'subscribe_streams must be 1 to 64 comma-separated stream names (^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$), and cannot be combined with integrity=chain.'],
  invalid_webhook_url: [400, 'url must be https: with a host name (not an IP address), without user:password, at most 2,048 characters; http: only to localhost on a development broker.'],
  invalid_webhook_events: [400, 'events must be a non-empty list of distinct values from "utterance", "joined", "left".'],
  invalid_webhook_notify: [400, 'notify must be "all" or "mentions".'],
  unknown_webhook_field: [400, 'A webhook registration holds only url, stream_name, notify and events.'],
  missing_credential: [401, 'This call needs Authorization: Bearer ams_sk_….'],
  invalid_credential: [401, 'The bearer credential is not valid.'],
  signup_forbidden: [403, 'Account creation on this broker needs the signup token (X-AMS-Signup-Token).'],
  namespace_mismatch: [403, 'The credential belongs to another namespace.'],
  invalid_magic_link: [403, 'The magic link token is missing, altered, expired, revoked, or for another conversation.'],
  read_only: [403, 'An observer link cannot emit.'],
  not_found: [404, 'No such route.'],
  conversation_not_found: [404, 'No conversation with that alias in this namespace.'],
  account_not_found: [404, 'This namespace\'s account was deleted.'],
  webhook_not_found: [404, 'No webhook with that id that this credential may see in this conversation.'],
  not_acceptable: [406, 'This route answers text/event-stream; send Accept: text/event-stream.'],
  namespace_taken: [409, 'That namespace already has an account.'],
  alias_taken: [409, 'That alias is already used in this namespace.'],
  conversation_exists: [409, 'A conversation with this derived id already exists.'],
  stream_name_conflict: [409, 'That stream name belongs to another account in this conversation.'],
  body_too_large: [413, 'The request body is larger than this route accepts.'],
  token_too_large: [413, 'A token is larger than 65,536 UTF-8 bytes.'],
  too_many_tokens: [413, 'A batch holds more than 1,000 tokens.'],
  unsupported_media_type: [415, 'Send Content-Type: application/json.'],
  upgrade_required: [426, 'This route is a WebSocket endpoint; send Upgrade: websocket.'],
  concurrency_limit: [429, 'The account holds too many streams in this conversation.'],
  rate_limited: [429, 'The stream emits faster than its rate limit.'],
  signup_rate_limited: [429, 'This client has created too many accounts; try again after Retry-After seconds.'],
  webhook_limit: [429, 'The conversation holds 10 webhooks, or this account registered 3 in it already.'],
  internal_error: [500, 'Something went wrong on our side; it has been logged.'],
  misconfigured: [500, 'This deployment has no AMS_CREDENTIAL_PEPPER or AMS_LINK_SECRET; it refuses to serve until they are set.'],
  conversation_full: [503, 'The conversation is at its connection limit.'],
  // Close reasons only a socket (or an MCP membership) meets.
  malformed_frame: [null, 'The frame is not a JSON object of a known shape (set_metadata: an object of at most 16 KiB, nested at most 32 deep).'],
  unknown_frame_type: [null, 'The frame type is not one a client may send.'],
  invalid_stream_name_header: [null, 'X-AMS-Stream-Name must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$.'],
  invalid_stream_metadata_header: [null, 'X-AMS-Stream-Metadata must be base64 of a JSON object of at most 16 KiB, nested at most 32 deep.'],
  invalid_identity_header: [null, 'X-AMS-Identity-Kind must be agent, human or service; X-AMS-Identity-Client and -Model at most 128 characters without control characters.'],
  stream_displaced: [null, 'Another session took this stream over; call ams_join again to take it back.'],
  conversation_closed: [null, 'The conversation was deleted by its owner.'],
  credential_revoked: [null, 'The account credential this was admitted with was rotated, or its account deleted; connect again with the current credential.'],
  replay_paused: [null, 'The replay reached its 4 MiB budget; reconnect with since = the last seq received to continue.'],
  slow_consumer: [null, 'More than 8 MiB waited unread on this connection; reconnect with since = the last seq received.'],
  // Why a webhook's reply was dropped, or why it was disabled (shown in its listing).
  reply_too_large: [null, 'The reply is larger than a token may be (65,536 UTF-8 bytes); it was not spoken.'],
  reply_rate_limited: [null, 'The webhook replied more than 20 times in a minute; this reply was not spoken.'],
  failure_budget: [null, 'Every delivery failed for 24 hours; the webhook is disabled until POST …/webhooks/{id}/enable.'],
  // MCP tool errors.
  invalid_arguments: [null, 'The tool arguments do not match its input schema.'],
  unknown_tool: [null, 'There is no tool by that name.'],
  not_joined: [null, 'Call ams_join first (or pass the resume_key of a joined stream).'],
  invalid_resume_key: [null, 'The resume_key is altered, truncated, or from another broker.'],
  resume_key_mismatch: [null, 'The resume_key belongs to another stream, conversation or account than this call.'],
} as const satisfies Record<string, readonly [number | null, string]>;

export type ErrorCode = keyof typeof ERRORS;
/** The codes an HTTP route may answer with. */
export type HttpErrorCode = { [K in ErrorCode]: (typeof ERRORS)[K][0] extends number ? K : never }[ErrorCode];

/** Every close reason is in the table (checked here, at compile time). */
const closeReasonsListed: Exclude<CloseReason, ErrorCode> extends never ? true : false = true;
void closeReasonsListed;

/** An error as a response body, a tool result or a notification: `{error, message}`. */
export interface ErrorBody {
  error: ErrorCode;
  message: string;
}

export function errorBody(code: ErrorCode, message?: string): ErrorBody {
  return { error: code, message: message ?? ERRORS[code][1] };
}

/** A domain error on its way to becoming an HTTP response (or an MCP tool error). */
export class AmsError extends Error {
  readonly code: HttpErrorCode;
  readonly status: number;
  constructor(code: HttpErrorCode, message?: string) {
    super(message ?? ERRORS[code][1]);
    this.code = code;
    this.status = ERRORS[code][0];
  }
  toJSON(): { error: HttpErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}

export function errorResponse(code: HttpErrorCode, message?: string, headers?: HeadersInit): Response {
  return Response.json(errorBody(code, message), { status: ERRORS[code][0], headers });
}
