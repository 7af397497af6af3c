/**
 * Compression: what a default client gets. `ws` and every browser offer
 * permessage-deflate; if the server accepts, the runtime deflates every frame
 * for every socket on its own. This scenario runs the 1 → 10 fan-out with the
 * client offering and declining, against the broker as configured and against
 * a copy with the server's choice reversed (the `no_web_socket_compression`
 * compatibility flag toggled), through both of the broker's ports.
 */
import { AmsTarget } from '../targets/ams';
import { fanout, type Measured, type Scale } from './traffic';

export const NO_COMPRESSION_FLAG = 'no_web_socket_compression';

export interface CompressionResult extends Measured {
  /** What the server answered to the sockets' offers: extension (or 'none') per socket count. */
  negotiated: string;
  offered: boolean;
}

/** Whether a wrangler.toml lets the runtime accept permessage-deflate (the compatibility date is past 2023-08-15 here). */
export function serverAccepts(toml: string): boolean {
  return !new RegExp(`^compatibility_flags\\s*=\\s*\\[[^\\]]*"${NO_COMPRESSION_FLAG}"`, 'm').test(toml);
}

/** The same wrangler.toml with the server's choice reversed. */
export function reverseCompression(toml: string): string {
  if (!serverAccepts(toml)) return toml.replace(new RegExp(`,?\\s*"${NO_COMPRESSION_FLAG}"`), '').replace(/\[\s*,\s*/, '[');
  if (/^compatibility_flags\s*=\s*\[/m.test(toml)) return toml.replace(/^(compatibility_flags\s*=\s*\[)([^\]]*)\]/m, (_, head: string, list: string) => `${head}${list.trim() ? `${list.trim()}, ` : ''}"${NO_COMPRESSION_FLAG}"]`);
  return toml.replace(/^(compatibility_date\s*=.*)$/m, `$1\ncompatibility_flags = ["${NO_COMPRESSION_FLAG}"]`);
}

/** One 1 → 10 fan-out with a fresh client that offers compression or not. */
export async function compressionCase(name: string, base: string, pids: () => number[], offered: boolean, scale: Scale, onError: (m: string) => void): Promise<CompressionResult> {
  const t = new AmsTarget(name, base, pids, undefined, { compression: offered });
  t.onError = onError;
  const r = await fanout(t, 10, scale);
  return { ...r, offered, negotiated: [...t.negotiated].map(([ext, n]) => (t.negotiated.size > 1 ? `${ext} ×${n}` : ext)).join(', ') };
}
