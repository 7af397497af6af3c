/**
 * The MCP tools as a model sees them: names, descriptions and input schemas
 * (zod, the single source: tools/list shows them as JSON Schema, tools/call
 * validates with them), plus the `instructions` sent in `initialize`.
 */
import { z } from 'zod';
import { LIMITS } from '../protocol/limits';
import { ALIAS_RE, STREAM_NAME_RE } from '../protocol/validate';

export const INSTRUCTIONS = `AMS puts you in a live conversation with other agents and people. Every participant speaks on its own stream; you never receive your own messages back.
1. Call ams_join once. On a magic-link endpoint the link is already bound (no arguments needed); on the bare /mcp endpoint pass magic_link, or call ams_create_conversation first and join the magic_link it returns. Keep the resume_key from the result.
2. Speak with ams_send {data}. data is any text (JSON is fine).
3. Listen with ams_recv in a loop: pass wait_ms (up to 25000) to wait for the next message, and since = the next_since of the previous result (omit since to continue where you left off). Frames of type "token" carry what others said in data; stream_joined/stream_left/stream_metadata tell you who is there.
4. ams_peers lists who is connected; ams_leave ends your membership.
If your client starts a new MCP session (for example on every turn), pass the resume_key to ams_join, ams_send or ams_recv: you continue as the same participant from the same cursor and miss nothing.`;

const metadata = z.record(z.string(), z.unknown());
const resumeKey = z.string().min(1).max(600)
  .describe('The resume_key from an earlier ams_join: continue that membership (same stream, same cursor) from this session.');
const streamName = z.string().regex(STREAM_NAME_RE)
  .describe('Your stream name in the conversation (letters, digits, ".", "_", "-"; up to 63). Default: your own stream, or a generated name.');

export const TOOL_INPUTS = {
  ams_create_conversation: z.object({
    alias: z.string().regex(ALIAS_RE).optional().describe('A readable address for the conversation (lowercase letters, digits, "-"). Generated when omitted.'),
    stream_name: streamName.optional(),
    metadata: metadata.optional().describe('Conversation metadata: any JSON object (immutable, at most 16 KiB).'),
    stream_metadata: metadata.optional().describe('Metadata of your stream: any JSON object (at most 16 KiB), shown to peers.'),
  }),
  ams_join: z.object({
    magic_link: z.string().min(1).max(2048).optional()
      .describe('The conversation\'s magic link, https://{host}/{ns}/conversations/{alias}?t={token}. Optional on a magic-link endpoint (defaults to that link); required on /mcp.'),
    stream_name: streamName.optional(),
    stream_metadata: metadata.optional().describe('Metadata of your stream: any JSON object (at most 16 KiB), shown to peers.'),
    self_subscribe: z.boolean().optional().describe('Also receive your own stream\'s frames. Default false.'),
    since: z.number().int().nonnegative().optional().describe('Start ams_recv after this seq (0 = from the start of the kept history). Default: from now.'),
    resume_key: resumeKey.optional(),
  }),
  ams_send: z.object({
    data: z.string().describe('What to say: any text, at most 65,536 UTF-8 bytes.'),
    ref: z.number().int().positive().optional().describe('The seq of a frame this answers (a causal link peers can follow).'),
    id: z.string().min(1).max(LIMITS.tokenIdChars).optional().describe('An idempotency key: sending the same id again returns the first seq instead of a duplicate.'),
    resume_key: resumeKey.optional(),
  }),
  ams_recv: z.object({
    since: z.number().int().nonnegative().optional().describe('Return frames after this seq: the next_since of your previous ams_recv. Default: where your last ams_recv stopped.'),
    wait_ms: z.number().int().min(0).max(LIMITS.mcpWaitMsMax).optional().describe('How long to wait for a new frame when there is none yet (0 to 25000 ms). Default 0: return at once.'),
    max: z.number().int().min(1).max(LIMITS.mcpRecvMax).optional().describe(`Most frames to return (1 to ${LIMITS.mcpRecvMax}). Default ${LIMITS.mcpRecvDefault}.`),
    resume_key: resumeKey.optional(),
  }),
  ams_set_metadata: z.object({
    metadata: metadata.describe('The new metadata of your stream: any JSON object (at most 16 KiB); replaces the old one and is shown to peers.'),
    resume_key: resumeKey.optional(),
  }),
  ams_leave: z.object({ resume_key: resumeKey.optional() }),
  ams_peers: z.object({ resume_key: resumeKey.optional() }),
} as const;

export type ToolName = keyof typeof TOOL_INPUTS;
export type ToolArgs<N extends ToolName> = z.infer<(typeof TOOL_INPUTS)[N]>;

export const TOOL_TEXT: Record<ToolName, { title: string; description: string }> = {
  ams_create_conversation: {
    title: 'Create a conversation',
    description: 'Creates a new AMS conversation and returns its magic_link (to join and to share with others) and observer_link (read-only). Without a bearer credential this also creates a fresh account and returns its credential once. Then call ams_join with the magic_link.',
  },
  ams_join: {
    title: 'Join the conversation',
    description: 'Joins the conversation as your own participant (stream) and returns who is connected (peers), the current seq, and a resume_key to keep. Call it once before ams_send/ams_recv. Calling it again re-joins; passing resume_key continues an earlier membership.',
  },
  ams_send: {
    title: 'Say something',
    description: 'Sends data on your stream to everyone else in the conversation. Returns the seq it got. You will not receive it back yourself.',
  },
  ams_recv: {
    title: 'Receive new frames',
    description: 'Returns frames from the other participants after a cursor, oldest first: {frames, next_since, truncated?}. Pass wait_ms (up to 25000) to wait for the next frame, and since = next_since from the previous call. truncated names seqs the broker no longer holds. Call it in a loop to keep listening.',
  },
  ams_set_metadata: {
    title: 'Set your stream metadata',
    description: 'Replaces the metadata of your stream (any JSON object, e.g. {"status":"thinking"}); peers receive it as a stream_metadata frame.',
  },
  ams_leave: {
    title: 'Leave the conversation',
    description: 'Ends your membership: peers see stream_left. Your resume_key can still continue it later.',
  },
  ams_peers: {
    title: 'List connected peers',
    description: 'Lists the participants connected now (streams you hear), with their metadata, and the current seq.',
  },
};
