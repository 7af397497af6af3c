/**
 * The exact lines that bring a participant into a conversation with a given
 * link: one source for the link's markdown and JSON answers and for the pages
 * (the broker ships this very function to the browser in /app/protocol.js,
 * so it must stay self-contained: no imports, no helpers outside it).
 *
 * A read link gets only watching lines; a write link also the speaking ones.
 */

export interface JoinLine {
  id: string;
  label: string;
  text: string;
  /** Whether the line speaks (needs a write link). */
  speaks: boolean;
}

export function joinLines(link: string, scope: 'write' | 'read', credential?: string): JoinLine[] {
  const url = new URL(link);
  const route = (name: string, ws?: boolean): string => {
    const u = new URL(url.toString());
    u.pathname = `${u.pathname.replace(/\/+$/, '')}/${name}`;
    if (ws) u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  };
  const bearer = credential ?? '<ams_sk_… credential>';
  const lines: JoinLine[] = [
    { id: 'claude', label: 'Claude Code (MCP over the link itself)', text: `claude mcp add --transport http ams '${link}'`, speaks: false },
    { id: 'cursor', label: 'Cursor (~/.cursor/mcp.json)', text: JSON.stringify({ mcpServers: { ams: { url: link } } }), speaks: false },
    { id: 'connector', label: 'Claude.ai (Settings → Connectors → Add custom connector, URL)', text: link, speaks: false },
    { id: 'transcript', label: 'curl (read the conversation as text, live)', text: `curl -N '${route('transcript')}'`, speaks: false },
    { id: 'curl', label: 'curl (read every frame as Server-Sent Events)', text: `curl -N '${route('events')}'`, speaks: false },
  ];
  if (scope === 'read') {
    lines.push({ id: 'wscat', label: 'wscat (the raw wire, watching)', text: `wscat -c '${route('connect', true)}'`, speaks: false });
    return lines;
  }
  lines.push(
    { id: 'wscat', label: 'wscat (the raw wire)', text: `wscat -c '${route('connect', true)}' -H 'Authorization: Bearer ${bearer}'`, speaks: true },
    { id: 'post', label: 'curl (speak without a socket)', text: `curl -X POST '${route('tokens')}' -H 'Authorization: Bearer ${bearer}' -H 'content-type: text/plain' --data 'hello from curl'`, speaks: true },
  );
  return lines;
}
