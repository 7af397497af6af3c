/**
 * The layering rule of src/, read from the code's own imports (type-only ones
 * count): protocol ← control ← conversation ← mcp ← http ← the entry files
 * (app.ts, index.ts). A module may import its own layer or any below it,
 * never one above; src/client imports only protocol; src/cli, the command
 * line, is the top of its own stack: it imports only client and protocol
 * (and itself), and nothing imports it. A new folder under src/
 * fails here until it is given a place in LAYERS. Inside conversation/, the
 * rooms (shards/: the audience shards; members/: MCP memberships) may use the
 * conversation's own modules but never each other.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Bottom to top. `.` is the files directly in src/. */
const LAYERS = ['protocol', 'control', 'conversation', 'mcp', 'http', '.'];

/** The layer a src-relative path belongs to: its first folder, or `.`. */
function layerOf(path: string): string {
  const parts = path.split(sep);
  return parts.length === 1 ? '.' : parts[0];
}

/** The rooms of src/conversation/: sub-folders that must not import each other. */
const ROOMS = ['shards', 'members', 'webhooks'];

/** The room of a src-relative path inside conversation/, or undefined. */
function roomOf(path: string): string | undefined {
  const parts = path.split(sep);
  return parts[0] === 'conversation' && parts.length > 2 ? parts[1] : undefined;
}

/** Why an import of `to` from `from` (both src-relative) breaks the rule, or undefined when it keeps it. */
function violation(from: string, to: string): string | undefined {
  const a = layerOf(from);
  const b = layerOf(to);
  if (a === 'cli') return b === 'cli' || b === 'client' || b === 'protocol' ? undefined : `src/cli may import only src/client and src/protocol`;
  if (b === 'cli') return `nothing but src/cli itself may import src/cli`;
  if (a === 'client') return b === 'client' || b === 'protocol' ? undefined : `src/client may import only src/protocol`;
  if (b === 'client') return `only src/client itself may import src/client`;
  for (const layer of [a, b]) if (!LAYERS.includes(layer)) return `src/${layer} has no place in the layer order`;
  const [ra, rb] = [roomOf(from), roomOf(to)];
  for (const room of [ra, rb]) if (room && !ROOMS.includes(room)) return `src/conversation/${room} is not a known room`;
  if (ra && rb && ra !== rb) return `conversation/${ra} may not import from conversation/${rb}`;
  return LAYERS.indexOf(b) > LAYERS.indexOf(a) ? `${a} may not import from ${b}, a layer above it` : undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js)$/.test(e.name) ? [path] : [];
  });
}

/** Every module specifier of a file: `import … from`, `export … from`, bare `import '…'` and `import('…')`. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[\w*{}\s,$]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) found.push(m[1]);
  return found;
}

interface Edge {
  from: string;
  to: string;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec);
      // `'../client'` is the folder's index: it belongs to the folder's layer.
      const isFolder = existsSync(target) && statSync(target).isDirectory();
      out.push({ from, to: relative(SRC, isFolder ? join(target, 'index.ts') : target) });
    }
  }
  return out;
}

describe('the layers of src/', () => {
  it('reads imports in all their forms', () => {
    const text = `import { a } from './a';\nimport type {\n  B,\n  C,\n} from "../b";\nexport { d } from './d';\nexport * from './e';\nimport './f';\nconst g = await import('./g');\nimport h, { i } from './h';`;
    expect(specifiers(text).sort()).toEqual(['../b', './a', './d', './e', './f', './g', './h']);
  });

  it('knows which way is up', () => {
    expect(violation('control/mint.ts', 'conversation/store.ts')).toMatch(/layer above/);
    expect(violation('mcp/session.ts', 'http/accounts.ts')).toMatch(/layer above/);
    expect(violation('conversation/x.ts', 'mcp/y.ts')).toMatch(/layer above/);
    expect(violation('protocol/x.ts', 'control/y.ts')).toMatch(/layer above/);
    expect(violation('http/x.ts', 'app.ts')).toMatch(/layer above/);
    expect(violation('client/chain.ts', 'control/links.ts')).toMatch(/only src\/protocol/);
    expect(violation('http/x.ts', 'client/index.ts')).toMatch(/only src\/client/);
    expect(violation('storage/x.ts', 'protocol/y.ts')).toMatch(/no place/);
    expect(violation('http/x.ts', 'conversation/y.ts')).toBeUndefined();
    expect(violation('app.ts', 'index.ts')).toBeUndefined();
    expect(violation('client/chain.ts', 'protocol/chain.ts')).toBeUndefined();
    expect(violation('mcp/a.ts', 'mcp/b.ts')).toBeUndefined();
    expect(violation('cli/main.ts', 'cli/tail.ts')).toBeUndefined();
    expect(violation('cli/tail.ts', 'client/index.ts')).toBeUndefined();
    expect(violation('cli/render.ts', 'protocol/transcript.ts')).toBeUndefined();
    expect(violation('cli/tail.ts', 'http/transcript.ts')).toMatch(/only src\/client and src\/protocol/);
    expect(violation('cli/tail.ts', 'conversation/store.ts')).toMatch(/only src\/client and src\/protocol/);
    expect(violation('client/sse.ts', 'cli/tail.ts')).toMatch(/nothing but src\/cli/);
    expect(violation('http/x.ts', 'cli/main.ts')).toMatch(/nothing but src\/cli/);
    expect(violation('app.ts', 'cli/main.ts')).toMatch(/nothing but src\/cli/);
    expect(violation(join('conversation', 'shards', 'a.ts'), join('conversation', 'members', 'b.ts'))).toMatch(/may not import from conversation\/members/);
    expect(violation(join('conversation', 'misc', 'a.ts'), 'conversation/b.ts')).toMatch(/not a known room/);
    expect(violation(join('conversation', 'shards', 'a.ts'), 'conversation/wire.ts')).toBeUndefined();
    expect(violation('conversation/conversation.ts', join('conversation', 'members', 'b.ts'))).toBeUndefined();
  });

  it('holds for every import in src/', () => {
    const all = edges();
    expect(all.length).toBeGreaterThan(100);
    const broken = all.map((e) => ({ ...e, why: violation(e.from, e.to) })).filter((e) => e.why).map((e) => `src/${e.from} → src/${e.to}: ${e.why}`);
    expect(broken).toEqual([]);
  });
});
