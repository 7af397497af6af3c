/** The Worker entry: the Hono app and the Durable Object classes, nothing else. */
import { app } from './app';

export { AccountObject } from './control/account-object';
export { ClientLimitObject } from './control/client-limit';
export { ConversationObject } from './conversation/conversation-object';
export { AudienceShard } from './conversation/shards/shard';
export { McpSessionObject } from './mcp/session-object';
export { WebhookObject } from './conversation/webhooks/webhook-object';

export default app;
