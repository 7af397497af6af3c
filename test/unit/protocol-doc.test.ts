import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE } from '../../src/protocol/close-codes';
import { ERRORS } from '../../src/protocol/errors';
import { EVENTS } from '../../src/protocol/events';

const doc = readFileSync(new URL('../../PROTOCOL.md', import.meta.url), 'utf8');

describe('PROTOCOL.md shows the same tables as the code', () => {
  it('lists every close code with its exact reason', () => {
    for (const [reason, { code, retry }] of Object.entries(CLOSE)) {
      expect(doc, `${code} ${reason}`).toContain(`| ${code} | \`${reason}\` | ${retry ? 'yes' : 'no'} |`);
    }
  });

  it('lists every HTTP error code under its status', () => {
    for (const [code, [status]] of Object.entries(ERRORS)) {
      if (status === null) continue;
      const row = doc.split('\n').find((line) => line.startsWith(`| ${status} |`));
      expect(row, `status ${status}`).toBeDefined();
      expect(row, `${status} ${code}`).toContain(`\`${code}\``);
    }
  });

  it('lists every event line with what it means, and no event the code does not have', () => {
    for (const [name, meaning] of Object.entries(EVENTS)) expect(doc, name).toContain(`| \`${name}\` |`);
    const section = doc.slice(doc.indexOf('## Operations: event lines'), doc.indexOf('\n## ', doc.indexOf('## Operations: event lines') + 1));
    for (const name of section.matchAll(/^\| `([a-z_]+\.[a-z_]+)` \|/gm)) expect(Object.keys(EVENTS), name[1]).toContain(name[1]);
    expect(Object.values(EVENTS).every((meaning) => meaning.length > 0)).toBe(true);
  });
});
