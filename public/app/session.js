// @ts-check
/**
 * One conversation on screen: the wire connection (watching over SSE, or
 * speaking over a WebSocket) feeding the lanes, the raw log and the status
 * line, and the send box feeding the wire. Shared by the demo page and the
 * link view.
 */
import { LIMITS } from './protocol.js';
import { Lanes, TrafficLog, buildLive } from './live.js';
import { Transcript } from './transcript.js';
import { LiveWire } from './wire.js';

/** @param {string} s */
function utf8Bytes(s) {
  return new TextEncoder().encode(s).length;
}

export class LiveConversation {
  /** @param {HTMLElement} root @param {string} link */
  constructor(root, link) {
    this.link = link;
    this.parts = buildLive(root);
    this.lanes = new Lanes(this.parts.lanesBox, 'No stream has joined yet. Bring an agent in with one of the commands above, or open the link in another tab.');
    this.transcript = new Transcript(this.parts.transcriptBox);
    /** @type {Map<string, string>} what this page sent, by client id, until its receipt */
    this.sent = new Map();
    this.wireLog = new TrafficLog(this.parts.wireLog);
    /** @type {LiveWire | null} */
    this.wire = null;
    /** @type {'watching' | 'speaking' | 'observer'} */
    this.role = 'watching';
    /** @type {((joined: any) => void) | null} called on every `joined`, after the role is settled */
    this.onJoined = null;
    /** @type {((frame: any) => void) | null} called on every `x_conversation_updated`: the owner changed the instructions */
    this.onUpdated = null;
    this.setSendEnabled(false);
    this.parts.sendForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.sendFromBox();
    });
  }

  /** @param {boolean} on */
  setSendEnabled(on) {
    this.parts.sendInput.disabled = !on;
    this.parts.sendButton.disabled = !on;
  }

  /** @param {{ state: string, text: string }} s */
  showStatus(s) {
    this.parts.status.dataset.state = s.state;
    this.parts.status.textContent = s.text;
    if (s.state === 'closed') this.setSendEnabled(false);
  }

  /** @param {string} text */
  showNotice(text) {
    this.parts.notice.hidden = false;
    this.parts.notice.textContent = text;
  }

  /** @param {any} frame */
  onFrame(frame) {
    if (frame.type === 'x_truncated') {
      if (frame.to_seq >= frame.from_seq) this.showNotice(`Frames ${frame.from_seq}–${frame.to_seq} are no longer in the broker's history and cannot be shown.`);
      return;
    }
    if (frame.type === 'joined' && this.role === 'speaking') {
      if (frame.scope === 'read') {
        this.role = 'observer';
        this.showNotice('This is an observer link: it can watch the conversation but not speak in it. Ask for the magic link to join.');
      }
      // Typing stays possible while reconnecting: tokens wait and go out after the resume.
      this.setSendEnabled(this.role === 'speaking');
    }
    this.lanes.apply(frame);
    this.transcript.apply(frame);
    if (frame.type === 'joined') this.onJoined?.(frame);
    if (frame.type === 'x_conversation_updated') this.onUpdated?.(frame);
  }

  /**
   * Opens the wire. `socket` with a credential speaks; `events` only watches.
   * Continues from the cursor of the previous connection, if any.
   * @param {'socket' | 'events'} transport
   * @param {{ credential?: string, streamName?: string, streamMetadata?: Record<string, unknown> }} [who]
   */
  connect(transport, who = {}) {
    const previous = this.wire;
    previous?.stop();
    if (transport === 'socket' && who.credential) this.role = 'speaking';
    const label = transport === 'socket' ? 'WebSocket /connect' : 'Server-Sent Events /events (read-only)';
    this.parts.wireSub.textContent = `Frames exactly as they arrive on ${label}, before any rendering.`;
    this.wireLog.add('note', `opening ${label}${previous ? `, resuming after seq ${previous.lastSeq}` : ''}`, 'note');
    this.wire = new LiveWire(this.link, {
      transport,
      ...who,
      since: previous?.lastSeq,
      epoch: previous?.epoch,
      onFrame: (f) => this.onFrame(f),
      onRaw: (text, _t, direction) => this.wireLog.add(direction, text, 'frame'),
      onStatus: (s) => this.showStatus(s),
      onReceipt: (id, seq) => {
        this.lanes.confirm(id, seq);
        const data = this.sent.get(id);
        this.sent.delete(id);
        if (data !== undefined) this.transcript.ownToken(data, seq);
      },
    }).start();
    return this.wire;
  }

  sendFromBox() {
    const input = this.parts.sendInput;
    const data = input.value;
    if (!data || !this.wire || this.role !== 'speaking') return;
    if (utf8Bytes(data) > LIMITS.tokenBytes) {
      this.showNotice(`A token holds at most ${LIMITS.tokenBytes} UTF-8 bytes.`);
      return;
    }
    const id = this.wire.send(data);
    this.lanes.addOwn(id, data);
    this.sent.set(id, data);
    input.value = '';
    input.focus();
  }
}
