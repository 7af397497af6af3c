/**
 * How the command line fails: one line on stderr (`ams: …`) and an exit
 * status — 1 for a failure (the broker said no, the host is unreachable),
 * 2 for a usage error (a malformed link, a bad option). Never a stack trace.
 */
import { AmsHttpError } from '../client';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.failure) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);

/** What a close code means to someone at a terminal (the reason is the broker's own word, PROTOCOL.md §8). */
const CLOSE_HINTS: Record<string, string> = {
  invalid_magic_link: 'the link is not valid: it was altered, has expired or was revoked',
  invalid_credential: 'the credential was not accepted for this link',
  conversation_not_found: 'there is no conversation at this address',
  conversation_closed: 'the conversation was deleted',
  stream_name_conflict: 'that stream name belongs to another account',
  stream_displaced: 'another connection of this account took the stream over',
  read_only: 'this is an observer link: it can listen but not speak',
  invalid_cursor: 'the cursor (--since) is beyond the head of the conversation',
};

/** The one line for a connection the broker closed. */
export function closedError(code: number, reason: string): CliError {
  return new CliError(`${reason} (${code}): ${CLOSE_HINTS[reason] ?? 'the broker closed the connection'}`);
}

/** `cause` of Node's `fetch failed`: ECONNREFUSED, ENOTFOUND… */
export function networkCause(err: unknown): string | undefined {
  if (!(err instanceof TypeError)) return undefined;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}

/** Runs a request to `origin`, turning a network failure into one readable line. */
export async function reaching<T>(origin: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err) {
    const cause = networkCause(err);
    if (cause !== undefined) throw new CliError(`cannot reach ${origin} (${cause})`);
    throw err;
  }
}

/** The line and exit status for anything thrown out of a command. */
export function describeError(err: unknown): { message: string; exitCode: number } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof AmsHttpError) return { message: `${err.error}: ${err.message.replace(/^\d+ [a-z_]+: /, '') || `HTTP ${err.status}`}`, exitCode: EXIT.failure };
  const cause = networkCause(err);
  if (cause !== undefined) return { message: `cannot reach the broker (${cause})`, exitCode: EXIT.failure };
  return { message: `unexpected failure: ${err instanceof Error ? err.message : String(err)}`, exitCode: EXIT.failure };
}
