/** Reading request bodies: size caps, content types, and JSON objects — each failure a documented error. */
import { readAtMost } from '../control/encoding';
import { AmsError } from '../protocol/errors';
import { isJsonObject } from '../protocol/validate';
import type { JsonObject } from '../protocol/frames';

/** The media type of a request, lower-cased, without parameters; '' when absent. */
export function mediaType(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
}

/** The body as text, refusing anything over `cap` bytes (by header first, then by what arrives). */
export async function readText(request: Request, cap: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > cap) throw new AmsError('body_too_large', `The request body is larger than ${cap} bytes.`);
  if (!request.body) return '';
  const all = await readAtMost(request.body, cap);
  if (all === null) throw new AmsError('body_too_large', `The request body is larger than ${cap} bytes.`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(all);
  } catch {
    throw new AmsError('invalid_json', 'The request body is not valid UTF-8.');
  }
}

/**
 * A control-plane JSON object body. `Content-Type` must be `application/json`
 * (or absent); an empty body is `{}` when `emptyIsObject`.
 */
export async function readJsonObject(request: Request, cap: number, emptyIsObject: boolean): Promise<JsonObject> {
  const type = mediaType(request);
  if (type !== '' && type !== 'application/json' && !type.endsWith('+json')) {
    throw new AmsError('unsupported_media_type', `Content-Type ${type} is not accepted here; send application/json.`);
  }
  const text = await readText(request, cap);
  if (text.trim() === '') {
    if (emptyIsObject) return {};
    throw new AmsError('invalid_json', 'The request body is empty; send a JSON object.');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AmsError('invalid_json', 'The request body is not valid JSON.');
  }
  if (!isJsonObject(value)) throw new AmsError('invalid_json', 'The request body must be a JSON object, not an array or a scalar.');
  return value;
}
