/**
 * Every WebSocket close code the broker sends, with its exact reason string.
 * 4000–4899 are the published v1 codes and must never change; 4900–4999 are
 * AMS extensions. `retry` tells a client whether reconnecting can help.
 */
export const CLOSE = {
  invalid_magic_link: { code: 4001, retry: false },
  invalid_credential: { code: 4002, retry: false },
  // The same code as invalid_credential (the credential no longer holds); the reason says it was rotated or its account deleted.
  credential_revoked: { code: 4002, retry: false },
  concurrency_limit: { code: 4003, retry: true },
  stream_name_conflict: { code: 4004, retry: false },
  conversation_not_found: { code: 4005, retry: false },
  malformed_frame: { code: 4400, retry: true },
  unknown_frame_type: { code: 4400, retry: true },
  invalid_stream_name_header: { code: 4400, retry: false },
  invalid_stream_metadata_header: { code: 4400, retry: false },
  invalid_identity_header: { code: 4400, retry: false },
  invalid_subscription: { code: 4400, retry: false },
  token_too_large: { code: 4400, retry: true },
  internal_error: { code: 4500, retry: true },
  stream_displaced: { code: 4901, retry: false },
  read_only: { code: 4903, retry: false },
  replay_paused: { code: 4906, retry: true },
  slow_consumer: { code: 4908, retry: true },
  conversation_closed: { code: 4910, retry: false },
  conversation_full: { code: 4913, retry: true },
  invalid_cursor: { code: 4920, retry: false },
  rate_limited: { code: 4929, retry: true },
} as const;

export type CloseReason = keyof typeof CLOSE;
