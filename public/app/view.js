// @ts-check
/**
 * A magic link opened in a browser: the live view of that conversation.
 * It watches read-only over Server-Sent Events (any link, no credential)
 * until the visitor chooses to join; joining mints a fresh demo account in
 * one click and moves to a WebSocket, resuming from the same cursor.
 */
import { ApiError, inspect, mintAccount } from './api.js';
import { agentCommands, parseLink } from './links.js';
import { copyButton, el } from './live.js';
import { McpPane } from './mcp-pane.js';
import { LiveConversation } from './session.js';

/** @param {string} id */
function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page lacks #${id}`);
  return node;
}

/** @param {unknown} err */
function explain(err) {
  if (err instanceof ApiError) {
    if (err.code === 'invalid_magic_link') return 'This link does not open this conversation any more: it was altered, has expired, or its links were rotated.';
    if (err.code === 'conversation_not_found') return 'No conversation lives at this address (it may have been deleted).';
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** @param {string} link */
function renderCommands(link) {
  const box = $('commands');
  for (const cmd of agentCommands(link)) {
    const row = el('div', { class: 'cmd' });
    const copy = el('button', { type: 'button', class: 'copy' }, 'Copy');
    copyButton(copy, () => cmd.text);
    row.append(el('span', { class: 'label' }, cmd.label), el('pre', { 'data-testid': `cmd-${cmd.id}` }, cmd.text), copy);
    box.append(row);
  }
}

/** The conversation's purpose, as text (never markup). @param {string} text */
function showInstructions(text) {
  $('instructions-box').hidden = text === '';
  $('conversation-instructions').textContent = text;
}

async function main() {
  const link = `${location.origin}${location.pathname}${location.search}`;
  const parts = parseLink(link);
  const error = $('view-error');
  if (!parts || !parts.t) {
    error.hidden = false;
    error.textContent = 'This page shows a conversation when opened from its magic link (…/conversations/{alias}?t=…).';
    return;
  }
  $('address').textContent = `${parts.ns} / ${parts.alias}`;
  document.title = `${parts.alias} · AMS live view`;
  let info;
  try {
    info = await inspect(link);
  } catch (err) {
    error.hidden = false;
    error.textContent = explain(err);
    return;
  }
  $('conversation-id').textContent = info.conversation_id;
  const meta = JSON.stringify(info.metadata ?? {});
  $('conversation-meta').textContent = meta === '{}' ? 'none' : meta;
  renderCommands(link);
  showInstructions(info.instructions ?? '');

  const liveRoot = $('live');
  liveRoot.hidden = false;
  const live = new LiveConversation(liveRoot, link);
  live.onUpdated = (f) => showInstructions(f.instructions);
  if (typeof info.utterance_gap_ms === 'number') live.transcript.gapMs = info.utterance_gap_ms;
  live.connect('events');

  const join = /** @type {HTMLButtonElement} */ ($('join'));
  const joinNote = $('join-note');
  $('join-box').hidden = false;
  join.addEventListener('click', async () => {
    join.disabled = true;
    join.textContent = 'Minting a demo account…';
    try {
      const account = await mintAccount('visitor');
      const streamName = `visitor-${account.namespace.slice(-4)}`;
      live.onJoined = (joined) => {
        if (joined.scope === 'write') {
          $('join-title').textContent = 'Speaking';
          $('join-text').hidden = true;
          joinNote.textContent = `You speak as ${joined.stream_name}, with a fresh demo account (namespace ${account.namespace}). Its credential stays in this tab.`;
        } else {
          joinNote.textContent = 'This is an observer link: it only watches. Ask for the magic link to speak.';
        }
      };
      live.connect('socket', {
        credential: account.credential,
        streamName,
        streamMetadata: { kind: 'human', client: 'AMS link view' },
      });
      join.hidden = true;
      joinNote.textContent = 'Joining…';
    } catch (err) {
      join.disabled = false;
      join.textContent = 'Join and speak';
      joinNote.textContent = `Could not join: ${explain(err)}`;
    }
  });

  /** @type {McpPane | null} */
  let mcp = new McpPane(live.parts, link, { streamName: undefined, streamMetadata: { kind: 'human', client: 'AMS link view', transport: 'mcp' } });
  addEventListener('pagehide', () => {
    mcp?.stop();
    mcp = null;
    live.wire?.stop();
  });
}

void main();
