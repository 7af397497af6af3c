// @ts-check
/**
 * The MCP pane: the page joins the conversation a second time, as an MCP
 * client of the magic link, and shows every JSON-RPC message. Listening is
 * `ams_recv` in a loop with `next_since` — the cursor-based long-poll most
 * MCP clients rely on — so after a network error it simply asks again from
 * the same cursor and loses nothing.
 */
import { McpSession } from './mcp.js';
import { TrafficLog } from './live.js';

const RECV_WAIT_MS = 20_000;
const MAX_ENTRY_CHARS = 1_500;

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @param {any} f */
function describeFrame(f) {
  const who = f.stream_name ?? '';
  switch (f.type) {
    case 'token': return `seq ${f.seq} · token from ${who}: ${JSON.stringify(f.data)}`;
    case 'stream_joined': return `seq ${f.seq} · ${who} joined`;
    case 'stream_left': return `seq ${f.seq} · ${who} left`;
    case 'stream_metadata': return `seq ${f.seq} · ${who} changed metadata`;
    default: return `${f.type ?? 'frame'}`;
  }
}

export class McpPane {
  /**
   * @param {import('./live.js').LiveParts} parts
   * @param {string} link
   * @param {{ streamName?: string, streamMetadata?: Record<string, unknown>, fromStart?: boolean }} opts
   */
  constructor(parts, link, opts) {
    this.parts = parts;
    this.link = link;
    this.opts = opts;
    this.log = new TrafficLog(parts.mcpLog);
    /** @type {McpSession | null} */
    this.session = null;
    /** @type {any} */
    this.join = null;
    this.since = 0;
    this.stopped = false;
    this.abort = new AbortController();
    this.setSendEnabled(false);
    parts.mcpForm.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.send();
    });
    parts.mcpStart.addEventListener('click', () => void this.start());
  }

  /** @param {boolean} on */
  setSendEnabled(on) {
    this.parts.mcpInput.disabled = !on;
    this.parts.mcpSend.disabled = !on;
  }

  /** @param {string} state @param {string} text */
  status(state, text) {
    this.parts.mcpStatus.dataset.state = state;
    this.parts.mcpStatus.textContent = text;
  }

  /** @param {'in' | 'out'} direction @param {any} message */
  traffic(direction, message) {
    let text = JSON.stringify(message);
    if (text.length > MAX_ENTRY_CHARS) text = `${text.slice(0, MAX_ENTRY_CHARS)}… (${text.length} chars)`;
    this.log.add(direction, text, 'rpc');
    const frames = message?.result?.structuredContent?.frames;
    if (direction === 'in' && Array.isArray(frames)) for (const f of frames) this.log.add('note', describeFrame(f), 'frame');
  }

  /** Opens a session and joins; used at start and when the server has forgotten the session. */
  async open() {
    this.session = new McpSession(this.link, (d, m) => this.traffic(d, m));
    this.status('connecting', 'initialize…');
    const init = await this.session.initialize();
    this.status('connecting', `Initialized with ${init.serverInfo?.name ?? 'the server'}; calling ams_join…`);
    /** @type {Record<string, unknown>} */
    const args = {};
    if (this.opts.streamName) args.stream_name = this.opts.streamName;
    if (this.opts.streamMetadata) args.stream_metadata = this.opts.streamMetadata;
    if (this.join?.resume_key) args.resume_key = this.join.resume_key;
    const join = await this.session.callTool('ams_join', args, this.abort.signal);
    if (!this.join) this.since = this.opts.fromStart ? 0 : (join.seq ?? 0);
    this.join = join;
    this.setSendEnabled(true);
  }

  async start() {
    this.parts.mcpStart.hidden = true;
    try {
      await this.open();
    } catch (err) {
      this.status('closed', `The MCP endpoint did not let the page join: ${err instanceof Error ? err.message : String(err)}`);
      this.parts.mcpStart.hidden = false;
      this.session = null;
      return;
    }
    void this.listen();
  }

  /** `ams_recv` forever, each call starting at the previous `next_since`. */
  async listen() {
    let failures = 0;
    while (!this.stopped && this.session) {
      this.status('live', `Joined as ${this.join.stream_name}; listening with ams_recv from since=${this.since}.`);
      try {
        const r = await this.session.callTool('ams_recv', { since: this.since, wait_ms: RECV_WAIT_MS, format: 'frames' }, this.abort.signal);
        if (typeof r?.next_since === 'number') this.since = r.next_since;
        failures = 0;
      } catch (err) {
        if (this.stopped) return;
        const e = /** @type {any} */ (err);
        failures++;
        const delay = Math.min(5_000, 250 * 2 ** failures);
        this.status('reconnecting', `ams_recv failed (${e?.message ?? e}); asking again from since=${this.since} in ${(delay / 1000).toFixed(1)} s.`);
        await sleep(delay);
        if (e?.code === 'session_expired') {
          try {
            await this.open();
          } catch {
            // the next round reports it
          }
        }
      }
    }
  }

  async send() {
    const input = this.parts.mcpInput;
    const data = input.value;
    if (!data || !this.session) return;
    input.value = '';
    try {
      await this.session.callTool('ams_send', { data }, this.abort.signal);
    } catch (err) {
      this.log.add('note', `ams_send failed: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  }

  stop() {
    this.stopped = true;
    this.abort.abort();
    void this.session?.close();
  }
}
