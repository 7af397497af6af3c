/** `GET|HEAD /healthz`: liveness, open to any origin. */
import { Hono } from 'hono';
import type { Env } from '../control/env';

export const health = new Hono<{ Bindings: Env }>();

health.on(['GET', 'HEAD'], '/healthz', (c) => {
  c.header('access-control-allow-origin', '*');
  return c.json({ ok: true, host: new URL(c.req.url).host, ts: new Date().toISOString() });
});
