/** The AMS TypeScript client: its whole public surface. */
export { AmsSocket, connectUrl, type ConnectOptions, type Closed, type WebSocketConstructor } from './socket';
export { ResumingSocket, type ResumeEvents } from './resume';
export { EventTail, type EventTailOptions, type EventTailEvents, type TailEnd } from './sse';
export { AmsClient, AmsHttpError, linkRoute, type Account, type Minted } from './http';
export { verifyChain, GENESIS_CHAIN, type ChainCheck } from './chain';
export type { ServerFrame, JoinedFrame, TokenFrame, LoggedFrame, JsonObject } from '../protocol/frames';
