// @ts-check
/**
 * What a person sees of a conversation: one lane per stream (name, owner,
 * metadata, tokens appended as they arrive, joins and leaves in place), and
 * logs of the raw traffic. Peer data only ever reaches the page through
 * `textContent`, so a token holding `<script>` is shown, never run.
 */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string>} [attrs]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The broker's default quiet gap (ms): a stream quiet this long has finished its utterance (PROTOCOL §4.4). */
const UTTERANCE_GAP_MS = 2_000;

/** A lane keeps its latest tokens on screen; older ones are in the broker's history. */
const LANE_CAP = 5_000;

/** Keeps a scrolled box pinned to its end while the reader is at the end. */
function stickToEnd(/** @type {HTMLElement} */ box, /** @type {() => void} */ change) {
  const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  change();
  if (atEnd) box.scrollTop = box.scrollHeight;
}

/** Appends to a lane, dropping its oldest entries past the cap. @param {HTMLElement} box @param {HTMLElement} node */
function appendCapped(box, node) {
  stickToEnd(box, () => {
    box.append(node);
    while (box.childElementCount > LANE_CAP) box.firstElementChild?.remove();
  });
}

/** @param {unknown} metadata */
function metadataText(metadata) {
  if (metadata === null || metadata === undefined) return '';
  const text = JSON.stringify(metadata);
  return text === '{}' ? '' : text;
}

/**
 * @typedef {{ id: string, name: string, owner: string, root: HTMLElement, tokens: HTMLElement, meta: HTMLElement, badge: HTMLElement, own: boolean, last?: number, ended?: boolean }} Lane
 */

/** The lanes: one per stream, in the order streams were first seen. */
export class Lanes {
  /** @param {HTMLElement} container @param {string} emptyText */
  constructor(container, emptyText) {
    this.container = container;
    /** @type {Map<string, Lane>} */
    this.byId = new Map();
    /** @type {Map<string, HTMLElement>} own tokens waiting for their receipt, by client id */
    this.pending = new Map();
    /** @type {string | null} */
    this.ownId = null;
    this.empty = el('p', { class: 'empty' }, emptyText);
    container.append(this.empty);
  }

  /**
   * @param {{ stream_id: string, stream_name: string, owner_account_id?: string, metadata?: unknown, identity?: { kind: string, client?: string, model?: string } }} s
   * @param {boolean} [own]
   */
  lane(s, own = false) {
    let lane = this.byId.get(s.stream_id);
    if (!lane) {
      const root = el('article', { class: 'lane', 'data-stream-id': s.stream_id, 'data-stream-name': s.stream_name, 'data-state': 'live' });
      const head = el('header', { class: 'lane-head' });
      const name = el('span', { class: 'lane-name' }, s.stream_name);
      const badge = el('span', { class: 'lane-badge' }, 'live');
      const owner = el('span', { class: 'lane-owner', title: s.owner_account_id ?? '' }, s.owner_account_id ? `owner …${s.owner_account_id.slice(-6)}` : '');
      // Hiding a lane is local (decisions/0130): the page keeps hearing the stream, so showing it again needs no reconnect or replay.
      const toggle = el('button', { type: 'button', class: 'lane-toggle', 'aria-pressed': 'false', title: 'Hide or show this stream\'s tokens' }, 'hide');
      toggle.addEventListener('click', () => {
        const hidden = root.dataset.hidden !== 'true';
        root.dataset.hidden = String(hidden);
        toggle.textContent = hidden ? 'show' : 'hide';
        toggle.setAttribute('aria-pressed', String(hidden));
      });
      const kind = el('span', { class: 'lane-kind', 'data-testid': 'lane-kind' });
      head.append(name, kind, badge, owner, toggle);
      const meta = el('code', { class: 'lane-meta' });
      const tokens = el('div', { class: 'lane-tokens', 'data-testid': 'lane-tokens' });
      root.append(head, meta, tokens);
      lane = { id: s.stream_id, name: s.stream_name, owner: s.owner_account_id ?? '', root, tokens, meta, badge, own: false };
      this.byId.set(s.stream_id, lane);
      this.empty.remove();
      this.container.append(root);
    }
    if (own && !lane.own) {
      lane.own = true;
      this.ownId = s.stream_id;
      lane.root.dataset.own = 'true';
      lane.root.querySelector('.lane-name')?.append(el('span', { class: 'you' }, ' (you)'));
      this.container.prepend(lane.root);
    }
    if (s.metadata !== undefined) this.setMetadata(lane, s.metadata);
    if (s.identity) this.setIdentity(lane, s.identity);
    return lane;
  }

  /** Who holds the stream, as it says (self-declared: shown as text, never trusted). @param {Lane} lane @param {{ kind: string, client?: string, model?: string }} who */
  setIdentity(lane, who) {
    const kind = /** @type {HTMLElement} */ (lane.root.querySelector('.lane-kind'));
    kind.textContent = String(who.kind);
    kind.title = [`${who.kind} (self-declared)`, who.client ? `client ${who.client}` : '', who.model ? `model ${who.model}` : ''].filter(Boolean).join(' · ');
  }

  /** @param {Lane} lane @param {unknown} metadata */
  setMetadata(lane, metadata) {
    const text = metadataText(metadata);
    lane.meta.textContent = text;
    lane.meta.hidden = text === '';
  }

  /** @param {Lane} lane @param {'live' | 'left'} state */
  setState(lane, state) {
    lane.root.dataset.state = state;
    lane.badge.textContent = state;
  }

  /** @param {Lane} lane @param {string} text @param {number} [seq] */
  mark(lane, text, seq) {
    lane.last = undefined;
    const span = el('span', { class: 'mark' }, text);
    if (seq !== undefined) span.dataset.seq = String(seq);
    appendCapped(lane.tokens, span);
  }

  /**
   * Applies a wire frame (from the socket, the event tail, or ams_recv).
   * @param {any} f
   */
  apply(f) {
    switch (f.type) {
      case 'joined': {
        if (f.stream_id) {
          const own = this.lane({ stream_id: f.stream_id, stream_name: f.stream_name, metadata: f.metadata, identity: f.identity }, true);
          this.setState(own, 'live');
        }
        for (const p of f.peers ?? []) this.setState(this.lane(p), 'live');
        return;
      }
      case 'stream_joined': {
        const lane = this.lane(f);
        this.setState(lane, 'live');
        this.mark(lane, 'joined', f.seq);
        return;
      }
      case 'stream_left': {
        const lane = this.lane(f);
        this.setState(lane, 'left');
        this.mark(lane, 'left', f.seq);
        return;
      }
      case 'stream_metadata': {
        const lane = this.lane(f);
        this.mark(lane, 'metadata changed', f.seq);
        return;
      }
      case 'token': {
        const lane = this.lane(f);
        const at = Date.parse(f.ts);
        // Utterances break the lane: after an end, or a quiet gap (the default; the page does not know the conversation's).
        if (lane.last !== undefined && (lane.ended || !(at - lane.last <= UTTERANCE_GAP_MS))) appendCapped(lane.tokens, el('br', { class: 'utt-break' }));
        lane.last = at;
        lane.ended = f.end === true;
        const attrs = { class: 'tok', 'data-seq': String(f.seq), title: `seq ${f.seq} · ${f.ts}` };
        appendCapped(lane.tokens, el('span', attrs, f.data));
        return;
      }
      default:
    }
  }

  /** Shows a token the page itself sent, before the broker has given it a seq. @param {string} id @param {string} data */
  addOwn(id, data) {
    if (!this.ownId) return;
    const lane = /** @type {Lane} */ (this.byId.get(this.ownId));
    // Each line the page sends is a whole utterance: it starts on its own line.
    if (lane.last !== undefined) appendCapped(lane.tokens, el('br', { class: 'utt-break' }));
    lane.last = Date.now();
    lane.ended = true;
    const span = el('span', { class: 'tok pending', title: 'sent, waiting for the broker’s receipt' }, data);
    this.pending.set(id, span);
    appendCapped(lane.tokens, span);
  }

  /** @param {string} id @param {number} seq */
  confirm(id, seq) {
    const span = this.pending.get(id);
    if (!span) return;
    this.pending.delete(id);
    span.classList.remove('pending');
    span.dataset.seq = String(seq);
    span.title = `seq ${seq} · confirmed by the broker`;
  }
}

/** A bounded log of raw traffic, newest at the end. */
export class TrafficLog {
  /** @param {HTMLElement} container @param {number} [cap] */
  constructor(container, cap = 500) {
    this.container = container;
    this.cap = cap;
  }

  /** @param {'in' | 'out' | 'note'} direction @param {string} text @param {string} [kind] */
  add(direction, text, kind = '') {
    const entry = el('div', { class: `entry ${direction}`, 'data-kind': kind });
    entry.append(el('span', { class: 'dir', 'aria-label': direction }, direction === 'in' ? '←' : direction === 'out' ? '→' : '·'), el('code', {}, text));
    stickToEnd(this.container, () => {
      this.container.append(entry);
      while (this.container.childElementCount > this.cap) this.container.firstElementChild?.remove();
    });
  }
}

/**
 * A copy button for a text element.
 * @param {HTMLButtonElement} button
 * @param {() => string} text
 */
export function copyButton(button, text) {
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text());
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Select and copy';
    }
    setTimeout(() => (button.textContent = 'Copy'), 1500);
  });
}

/**
 * Builds the live view inside `root` and returns its parts.
 * @param {HTMLElement} root
 */
export function buildLive(root) {
  const status = el('div', { class: 'status', 'data-testid': 'status', 'data-state': 'connecting', role: 'status' }, 'Not connected yet.');
  const notice = el('div', { class: 'notice', 'data-testid': 'notice' });
  notice.hidden = true;
  const lanesBox = el('div', { class: 'lanes', 'data-testid': 'lanes' });
  const transcriptBox = el('div', { class: 'transcript', 'data-testid': 'transcript', 'aria-live': 'polite' });
  const streams = el('div', { class: 'streams' });
  const lanesCol = el('div', { class: 'streams-col' });
  const transcriptCol = el('div', { class: 'streams-col' });
  lanesCol.append(el('h3', {}, 'Lanes'), lanesBox);
  transcriptCol.append(el('h3', {}, 'Transcript'), el('p', { class: 'pane-sub' }, 'Whole messages, in order, each under its speaker; one still being spoken grows as its tokens arrive.'), transcriptBox);
  streams.append(lanesCol, transcriptCol);

  const sendForm = el('form', { class: 'send', 'data-testid': 'send-form' });
  const sendInput = el('input', { type: 'text', 'data-testid': 'send-input', placeholder: 'Type a token and press Enter', autocomplete: 'off', 'aria-label': 'Token to send on your stream' });
  const sendButton = el('button', { type: 'submit', 'data-testid': 'send-button' }, 'Send');
  const sendHint = el('p', { class: 'hint' }, 'Sent as a token frame on this page’s own stream over the WebSocket; grey until the broker’s receipt gives it a seq.');
  sendForm.append(sendInput, sendButton);

  const mcpPane = el('section', { class: 'pane', 'data-testid': 'mcp-pane' });
  const mcpStatus = el('div', { class: 'pane-status', 'data-testid': 'mcp-status' }, 'Not connected.');
  const mcpLog = el('div', { class: 'log', 'data-testid': 'mcp-log' });
  const mcpStart = el('button', { type: 'button', 'data-testid': 'mcp-start' }, 'Join via MCP');
  const mcpForm = el('form', { class: 'send', 'data-testid': 'mcp-form' });
  const mcpInput = el('input', { type: 'text', 'data-testid': 'mcp-input', placeholder: 'ams_send …', autocomplete: 'off', 'aria-label': 'Token to send with ams_send' });
  const mcpSend = el('button', { type: 'submit', 'data-testid': 'mcp-send' }, 'ams_send');
  mcpForm.append(mcpInput, mcpSend);
  mcpPane.append(
    el('h3', {}, 'MCP view'),
    el('p', { class: 'pane-sub' }, 'The page as an MCP client of the same link, over Streamable HTTP: initialize, ams_join, ams_send, and ams_recv in a loop with next_since. Every JSON-RPC message, both ways.'),
    mcpStatus, mcpStart, mcpLog, mcpForm,
  );

  const wirePane = el('section', { class: 'pane', 'data-testid': 'wire-pane' });
  const wireTitle = el('h3', {}, 'Raw wire');
  const wireSub = el('p', { class: 'pane-sub' }, 'Frames exactly as they arrive, before any rendering.');
  const wireLog = el('div', { class: 'log', 'data-testid': 'wire-log' });
  wirePane.append(wireTitle, wireSub, wireLog);

  const panes = el('div', { class: 'panes' });
  panes.append(mcpPane, wirePane);

  root.append(
    status, notice,
    el('h2', {}, 'Streams'), streams, sendForm, sendHint,
    el('h2', {}, 'Two altitudes of the same conversation'), panes,
  );
  return { status, notice, lanesBox, transcriptBox, sendForm, sendInput, sendButton, sendHint, mcpStatus, mcpLog, mcpStart, mcpForm, mcpInput, mcpSend, wireSub, wireLog };
}

/** @typedef {ReturnType<typeof buildLive>} LiveParts */
