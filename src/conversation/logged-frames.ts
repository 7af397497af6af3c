/**
 * What each frame a conversation writes looks like, apart from when it is
 * written: `Conversation` decides the seq, the time and the order (one
 * Durable Object event), these only give the frames their shape, so the
 * logging loop reads as a sequence of steps rather than of object literals.
 */
import type { ConversationUpdatedFrame, JoinedFrame, Peer, StreamJoinedFrame, StreamLeftFrame, StreamMetadataFrame, TokenFrame } from '../protocol/frames';
import type { ConversationRecord, StreamRecord } from '../protocol/records';
import type { EmitInput, JoinRequest } from './join';
import type { Head } from './store';
import { peerOf } from './streams';

/** A token on `stream`; `id`, `ref` and `end` appear only when given (`end` only when true). */
export function tokenFrame(stream: StreamRecord, input: EmitInput, seq: number, ts: string): TokenFrame {
  const frame: TokenFrame = {
    type: 'token',
    stream_id: stream.stream_id,
    stream_name: stream.stream_name,
    owner_account_id: stream.owner_account_id,
    ts,
    data: input.data,
    seq,
  };
  if (input.id !== undefined) frame.id = input.id;
  if (input.ref !== undefined) frame.ref = input.ref;
  if (input.end === true) frame.end = true;
  return frame;
}

/** A stream's arrival, departure or new metadata; a departure names the stream without its peer fields. */
export function presenceFrame(type: 'stream_joined' | 'stream_left' | 'stream_metadata', s: StreamRecord, ts: string, seq: number): StreamJoinedFrame | StreamLeftFrame | StreamMetadataFrame {
  return type === 'stream_left'
    ? { type, stream_id: s.stream_id, stream_name: s.stream_name, owner_account_id: s.owner_account_id, ts, seq }
    : { type, ...peerOf(s), ts, seq };
}

/** The owner's new instructions, a frame of the conversation itself (it belongs to no stream). */
export function instructionsFrame(r: ConversationRecord, instructions: string, ts: string, seq: number): ConversationUpdatedFrame {
  return { type: 'x_conversation_updated', conversation_id: r.conversation_id, instructions, ts, seq };
}

/** What an admitted connection is told first: its stream (if it writes), who is here, and where the log stands. */
export function joinedFrame(r: ConversationRecord, head: Head, stream: StreamRecord | null, req: JoinRequest, resumed: boolean, peers: Peer[], ts: string): JoinedFrame {
  return {
    type: 'joined',
    conversation_id: r.conversation_id,
    stream_id: stream?.stream_id ?? null,
    stream_name: stream?.stream_name ?? null,
    metadata: stream?.metadata ?? null,
    self_subscribe: req.selfSubscribe,
    peers,
    resumed,
    seq: head.seq,
    epoch: r.epoch,
    scope: req.scope,
    ...(req.chain ? { head_chain: head.chain } : {}),
    ts,
    ...(stream ? { identity: peerOf(stream).identity } : {}),
    ...(req.streams ? { subscribed_streams: req.streams } : {}),
  };
}
