/**
 * A webhook receiver for tests: a Node HTTP server on localhost that
 * verifies every delivery with the `standardwebhooks` library (never by
 * hand), records it, and answers as the test says — 2xx with or without a
 * reply, an error status, or no answer at all.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';

export interface Delivery {
  id: string;
  timestamp: number;
  /** The verified, parsed body. */
  body: { type: string; text?: string; first_seq?: number; last_seq?: number; skipped?: number; speaker: { stream_id: string; stream_name: string; account_id: string }; [k: string]: unknown };
  at: number;
}

/** How to answer one request: a status (and a body), or `hang` (never answer). */
export type Answer = { status: number; body?: string; type?: string } | 'hang';

export interface Receiver {
  url: string;
  /** Every verified delivery, in arrival order (retries included). */
  deliveries: Delivery[];
  /** Requests whose signature did not verify (must stay empty). */
  rejected: string[];
  /** The secret to verify with (set after registration). */
  secret: string | undefined;
  /** Decides the answer to each verified delivery; default 204. */
  answer: (d: Delivery) => Answer;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const hanging: ServerResponse[] = [];
  const r: Receiver = {
    url: '',
    deliveries: [],
    rejected: [],
    secret: undefined,
    answer: () => ({ status: 204 }),
    close: async () => {
      for (const res of hanging) res.destroy();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const payload = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      let body: Delivery['body'];
      try {
        if (!r.secret) throw new Error('no secret yet');
        body = new Webhook(r.secret).verify(payload, headers) as Delivery['body'];
      } catch (err) {
        r.rejected.push(`${String(err)}: ${payload.slice(0, 200)}`);
        res.writeHead(400).end();
        return;
      }
      const d: Delivery = { id: headers['webhook-id']!, timestamp: Number(headers['webhook-timestamp']), body, at: Date.now() };
      r.deliveries.push(d);
      const a = r.answer(d);
      if (a === 'hang') {
        hanging.push(res);
        return;
      }
      res.writeHead(a.status, a.body !== undefined ? { 'content-type': a.type ?? 'text/plain' } : {}).end(a.body);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as { port: number };
  r.url = `http://localhost:${port}/hook`;
  return r;
}
