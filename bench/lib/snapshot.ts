/**
 * The benchmark runs the broker from a copy of the project taken at start:
 * `wrangler dev` rebuilds and restarts on every source change, which would
 * drop every socket mid-measurement while someone edits the working tree.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
const PARTS = ['src', 'public', 'wrangler.toml', 'package.json', 'tsconfig.json'];

export interface Snapshot {
  dir: string;
  /** What was copied: "working tree" or a git ref with its commit. */
  source: string;
  commit: string;
  dirty: boolean;
  remove(): void;
}

/** Copies the working tree (or, with `ref`, that commit) next to a link to node_modules. */
export function snapshot(ref?: string): Snapshot {
  const dir = mkdtempSync(join(tmpdir(), 'ams-bench-src-'));
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim();
  let commit = 'unknown';
  let dirty = false;
  try {
    commit = git('rev-parse', ref ?? 'HEAD');
    dirty = ref === undefined && git('status', '--porcelain', '--', 'src', 'public', 'wrangler.toml') !== '';
  } catch {
    // not a git checkout
  }
  if (ref) {
    const tar = execFileSync('git', ['archive', commit, ...PARTS], { cwd: ROOT });
    execFileSync('tar', ['-x', '-C', dir], { input: tar });
  } else {
    for (const part of PARTS) if (existsSync(join(ROOT, part))) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  }
  if (existsSync(join(ROOT, '.dev.vars'))) cpSync(join(ROOT, '.dev.vars'), join(dir, '.dev.vars'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return {
    dir,
    source: ref ? `git ${ref}` : 'working tree',
    commit,
    dirty,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A copy of `snap` whose wrangler.toml is `edit`ed: the same source with one setting changed, to compare both in one run. */
export function variantOf(snap: Snapshot, edit: (toml: string) => string, what: string): Snapshot {
  const dir = mkdtempSync(join(tmpdir(), 'ams-bench-variant-'));
  cpSync(snap.dir, dir, { recursive: true });
  const toml = join(dir, 'wrangler.toml');
  writeFileSync(toml, edit(readFileSync(toml, 'utf8')));
  return { ...snap, dir, source: `${snap.source} with ${what}`, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
