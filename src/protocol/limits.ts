/** Live connections per conversation: readers (read links: SSE tails, read sockets, MCP observers) have their own budget; the rest is kept for writers. */
const READER_CONNECTIONS = 900;
const WRITER_RESERVE = 100;

/**
 * Every limit of the broker, in one place. PROTOCOL.md §Limits shows the same
 * table; each limit answers with the error or close code named beside it.
 */
export const LIMITS = {
  /** `token.data`, in UTF-8 bytes → 4400 token_too_large / 413 token_too_large. */
  tokenBytes: 65_536,
  /** A raw WebSocket message, before parsing (JSON escapes can grow data sixfold). */
  frameBytes: 512 * 1024,
  /** Serialized metadata of a conversation or stream → invalid_metadata / 4400. */
  metadataBytes: 16 * 1024,
  /** Nesting depth of metadata and of a jcs-sha256 `id_input` (a bare scalar is 0, `{}` is 1) → invalid_metadata / 4400. */
  jsonDepth: 32,
  /** Control-plane request bodies → 413 body_too_large. */
  controlBodyBytes: 64 * 1024,
  /** `POST …/tokens` bodies → 413 body_too_large. */
  tokensBodyBytes: 1024 * 1024,
  /** Tokens in one `POST …/tokens` batch → 413 too_many_tokens. */
  tokensPerBatch: 1_000,
  /** Connected streams one account may hold in one conversation → 4003 concurrency_limit. */
  streamsPerAccount: 10,
  /** Registered streams (connected or not) one account may have in one conversation; at the cap its quietest retirable stream is retired, else → 4003 concurrency_limit / 429. */
  streamsRegisteredPerAccount: 10,
  /** A stream nobody holds and nobody wrote on for this long may be retired to make room (its name is free again; the log keeps its frames). */
  streamRetireIdleMs: 60_000,
  /** Registered streams (connected or not) in one conversation → 4003 concurrency_limit. */
  streamsPerConversation: 10_000,
  /** Live connections (sockets, SSE, MCP sessions) per conversation → 4913 conversation_full / 503. */
  connectionsPerConversation: READER_CONNECTIONS + WRITER_RESERVE,
  /** Of those, read-scope connections at most → 4913 conversation_full / 503; the other `writerReserve` slots only writers take. */
  readerConnectionsPerConversation: READER_CONNECTIONS,
  writerReserve: WRITER_RESERVE,
  /** Read-only listeners (observer sockets, SSE tails) one audience shard holds → 4913 conversation_full / 503. */
  listenersPerShard: 1_000,
  /** Audience shards a conversation's listeners are spread over (the Worker picks one at random). */
  audienceShards: 16,
  /** Listeners a conversation admits across all its shards: default, and the most a minter may ask for (`audience.max_listeners`). */
  listenerBudgetDefault: 10_000,
  listenerBudgetCap: 16_000,
  /** Frames a shard keeps in memory to resume its listeners without asking the conversation. */
  shardTailFrames: 4_096,
  /** …and at most this many bytes of them (the oldest go first), so a shard's memory does not follow the size of tokens. */
  shardTailBytes: 8 * 1024 * 1024,
  /** Frames per delivery RPC, and frames queued for one shard before the oldest are dropped (the shard refills them from the log). */
  shardBatchFrames: 512,
  shardQueueFrames: 8_192,
  /** Capacity a shard asks the conversation for at a time. */
  shardLeaseBlock: 100,
  /** Emit rate per stream: token bucket refill per second and burst → 4929 rate_limited / 429. */
  emitRatePerSecond: 1_000,
  emitBurst: 2_000,
  /** Emit rate per account within one conversation, over all its streams (same codes as per stream). */
  emitRatePerAccountPerSecond: 2_000,
  emitBurstPerAccount: 4_000,
  /** `identity.client` and `identity.model`, in characters → 4400 invalid_identity_header / 400 invalid_identity / tool error. */
  identityTextChars: 128,
  /** Stream names one subscription filter may list (`subscribe_streams`). */
  subscribeStreams: 64,
  /** Rows a filtered history page passes over before it ends (`more: true`, `next_since` past them). */
  subscribeScanRows: 10_000,
  /** Client idempotency key (`token.id`) length. */
  tokenIdChars: 64,
  /** History window defaults; `history: {max_frames: 0}` disables history. */
  historyMaxFrames: 10_000,
  historyMaxAgeSeconds: 24 * 60 * 60,
  /** Upper bounds a minter may ask for. */
  historyMaxFramesCap: 1_000_000,
  historyMaxAgeSecondsCap: 30 * 24 * 60 * 60,
  /** A conversation's instructions (its purpose, told to every agent that arrives): characters (code points). */
  instructionsChars: 2_000,
  /** ams_join's recap: the last completed messages (default, most), and the bytes of their text. */
  recapDefaultMessages: 10,
  recapMaxMessages: 100,
  recapBytes: 8 * 1024,
  /** What the link's own page shows of the conversation: the last messages, within bytes of text. */
  linkPageMessages: 10,
  linkPageBytes: 4 * 1024,
  /** Quiet gap that closes an utterance without an `end` marker (ms): default, and the range accepted at mint. */
  utteranceGapDefaultMs: 2_000,
  utteranceGapMinMs: 100,
  utteranceGapMaxMs: 60_000,
  /** `GET …/history` page size. */
  historyPageDefault: 100,
  historyPageMax: 1_000,
  /** Frame bytes in one history page, one replay on /connect or /events, one `ams_recv` answer; past it `more: true` (at least one frame). */
  pageBytes: 4 * 1024 * 1024,
  /** Bytes the broker holds unsent for one connection (SSE tail, MCP membership buffer) → 4908 slow_consumer. */
  bufferedBytesPerConnection: 8 * 1024 * 1024,
  /** Account-creation attempts per client (IP, IPv6 /64): burst, then this many per hour → 429 signup_rate_limited. */
  signupBurst: 10,
  signupPerHour: 10,
  /** Magic-link expiry a minter may ask for (`expires_in`, seconds). */
  linkMaxLifetimeSeconds: 365 * 24 * 60 * 60,
  /** SSE keep-alive comment interval. */
  sseKeepAliveMs: 15_000,
  /** An MCP request body (a 64 KiB token JSON-escaped can grow sixfold) → 413 body_too_large. */
  mcpRequestBytes: 1024 * 1024,
  /** A 2025-11-25 SSE stream's `retry` field: how long a client whose stream was cut waits before resuming it with Last-Event-ID (ms). */
  mcpSseRetryMs: 1_000,
  /** What a session keeps for Last-Event-ID resumption (decisions/0120): at most this many events, this many bytes, none older than this; the newest is always kept. */
  mcpEventsKept: 256,
  mcpEventsBytes: 16 * 1024 * 1024,
  mcpEventsMaxAgeMs: 10 * 60 * 1000,
  /** `ams_recv.wait_ms` upper bound (MCP clients time requests out at about 60 s). */
  mcpWaitMsMax: 25_000,
  /** `ams_recv.max`: default and upper bound of frames per call. */
  mcpRecvDefault: 100,
  mcpRecvMax: 1_000,
  /** An MCP membership without a GET stream and with no call for this long leaves (`stream_left`, `connected: false`); its next call rejoins. */
  mcpPresenceQuietMs: 60 * 1000,
  /** An MCP membership holding a GET stream (renewed every `mcpListenRenewMs`) with no call or renewal for this long leaves too. */
  mcpPresenceIdleMs: 15 * 60 * 1000,
  /** A session holding a GET stream renews its registration with the conversation (which counts as a call) this often. */
  mcpListenRenewMs: 5 * 60 * 1000,
  /** A membership's stored recv cursor outlives its last call by this long (what a resume_key can continue). */
  mcpMemberRetainMs: 24 * 60 * 60 * 1000,
  /** An MCP session unused for this long is deleted; its id then answers 404 and the client initializes again. */
  mcpSessionIdleMs: 24 * 60 * 60 * 1000,
  /** The same for a session that holds no membership (never joined, or left). */
  mcpSessionUnjoinedIdleMs: 10 * 60 * 1000,
  /** MCP sessions one client (IP, IPv6 /64) may open: burst, then this many per hour → HTTP 429 with a JSON-RPC error and Retry-After. */
  mcpSessionsBurst: 100,
  mcpSessionsPerHour: 600,
  /** What an MCP session stores of its `initialize` (protocol version, capabilities, client info; nothing else) → 400 with a JSON-RPC error. */
  mcpInitStoredBytes: 4 * 1024,
  /** Webhooks (decisions 0135–0139): per conversation, and per registering account in it → 429 webhook_limit. */
  webhooksPerConversation: 10,
  webhooksPerAccount: 3,
  /** A webhook URL, in characters → 400 invalid_webhook_url. */
  webhookUrlChars: 2_048,
  /** Messages one webhook holds undelivered, and their bytes; past either the oldest are dropped and the next delivery carries `skipped`. */
  webhookBacklogMessages: 1_000,
  webhookBacklogBytes: 4 * 1024 * 1024,
  /** One delivery: answered within this long, or it failed. */
  webhookTimeoutMs: 10_000,
  /** What is read of a receiver's answer; a longer reply is dropped (`reply_too_large`). */
  webhookResponseBytes: 64 * 1024,
  /** Retries: the first after about this long, doubling, at most this far apart (each with jitter, 50–100 %). */
  webhookRetryBaseMs: 5_000,
  webhookRetryCapMs: 60 * 60 * 1000,
  /** A webhook failing for this long without one success is disabled (`failure_budget`). */
  webhookFailureBudgetMs: 24 * 60 * 60 * 1000,
  /** Replies one webhook may speak per minute; more are dropped (`reply_rate_limited`). */
  webhookRepliesPerMinute: 20,
  /** After this many consecutive utterances spoken only by webhooks, webhook replies reach no webhook until someone else speaks. */
  webhookLoopUtterances: 8,
  /** Frames of open utterances one webhook's reader holds; past it they are delivered as they stand (`complete: false`). */
  webhookHeldFrames: 4_096,
} as const;
