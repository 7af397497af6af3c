/** The CLI's version, stamped into the bundle at build time (src/cli/build.mjs) from package.json. */
declare const AMS_CLI_VERSION: string | undefined;

export const VERSION = typeof AMS_CLI_VERSION === 'string' ? AMS_CLI_VERSION : '0.0.0-dev';

/** Who is speaking, declared on every stream the CLI holds (read by brokers that know identity; others ignore it). */
export function identityHeaders(kind: 'human' | 'agent'): Record<string, string> {
  return { 'X-AMS-Identity-Kind': kind, 'X-AMS-Identity-Client': `ams-cli/${VERSION}` };
}
