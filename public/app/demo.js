// @ts-check
/**
 * The demo page: one click mints a demo account and a conversation, then the
 * page joins it twice — over the raw WebSocket and as an MCP client of the
 * same link — and shows how to bring an agent in.
 */
import { mintAccount, mintConversation } from './api.js';
import { agentCommands } from './links.js';
import { copyButton, el } from './live.js';
import { McpPane } from './mcp-pane.js';
import { LiveConversation } from './session.js';

/** @param {string} id */
function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page lacks #${id}`);
  return node;
}

/** @param {string} link @param {string} [credential] */
export function renderCommands(link, credential) {
  const box = $('commands');
  box.replaceChildren();
  for (const cmd of agentCommands(link, credential)) {
    const row = el('div', { class: 'cmd' });
    const text = el('pre', { 'data-testid': `cmd-${cmd.id}` }, cmd.text);
    const copy = el('button', { type: 'button', class: 'copy' }, 'Copy');
    copyButton(copy, () => cmd.text);
    row.append(el('span', { class: 'label' }, cmd.label), text, copy);
    box.append(row);
  }
}

/** @param {string} id @param {string} value */
function showLink(id, value) {
  $(id).textContent = value;
  copyButton(/** @type {HTMLButtonElement} */ ($(`${id}-copy`)), () => value);
}

async function mint() {
  const button = /** @type {HTMLButtonElement} */ ($('mint'));
  const error = $('mint-error');
  button.disabled = true;
  error.hidden = true;
  button.textContent = 'Minting…';
  try {
    const account = await mintAccount('demo');
    const conv = await mintConversation(account, {
      stream_name: 'browser',
      metadata: { created_by: 'AMS demo page' },
      stream_metadata: { kind: 'human', client: 'AMS demo page', transport: 'websocket' },
    });
    const agent = await mintAccount('agent');

    showLink('magic-link', conv.magic_link);
    showLink('observer-link', conv.observer_link);
    const view = /** @type {HTMLAnchorElement} */ ($('view-link'));
    view.href = conv.observer_link;
    $('namespace').textContent = account.namespace;
    $('agent-namespace').textContent = agent.namespace;
    renderCommands(conv.magic_link, agent.credential);
    const another = /** @type {HTMLButtonElement} */ ($('new-agent'));
    another.onclick = async () => {
      another.disabled = true;
      try {
        const next = await mintAccount('agent');
        $('agent-namespace').textContent = next.namespace;
        renderCommands(conv.magic_link, next.credential);
      } finally {
        another.disabled = false;
      }
    };
    $('links').hidden = false;
    $('start').hidden = true;

    const liveRoot = $('live');
    liveRoot.hidden = false;
    const live = new LiveConversation(liveRoot, conv.magic_link);
    live.connect('socket', {
      credential: account.credential,
      streamName: conv.stream_name,
      streamMetadata: { kind: 'human', client: 'AMS demo page', transport: 'websocket' },
    });
    live.parts.mcpStart.hidden = true;
    const mcp = new McpPane(live.parts, conv.magic_link, {
      streamName: 'browser-mcp',
      streamMetadata: { kind: 'human', client: 'AMS demo page', transport: 'mcp' },
      fromStart: true,
    });
    void mcp.start();
    addEventListener('pagehide', () => {
      mcp.stop();
      live.wire?.stop();
    });
  } catch (err) {
    error.hidden = false;
    error.textContent = `Could not mint: ${err instanceof Error ? err.message : String(err)}`;
    button.disabled = false;
    button.textContent = 'Mint a demo conversation';
  }
}

$('mint').addEventListener('click', () => void mint());
