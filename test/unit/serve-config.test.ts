/**
 * The workerd configuration `npm run serve` generates from wrangler.toml
 * (test/support/serve-config.ts): everything it runs with comes from the
 * TOML's top level, and what plain workerd cannot provide is named, not faked.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { generateConfig, sqliteClasses } from '../support/serve-config';

const ROOT = resolve(import.meta.dirname, '../..');
const TOML = readFileSync(resolve(ROOT, 'wrangler.toml'), 'utf8');
const base = { modules: ['index.js'], stateDir: '/tmp/state', root: ROOT, port: 8788, vars: { AMS_ENV: 'development' }, development: true };

describe('the generated workerd config', () => {
  it('carries the compatibility date, flags and every Durable Object class of wrangler.toml, each on SQLite', () => {
    const top = parse(TOML) as { compatibility_date: string; compatibility_flags: string[]; durable_objects: { bindings: { name: string; class_name: string }[] } };
    const { capnp, compatibilityFlags } = generateConfig(TOML, base);
    expect(capnp).toContain(`compatibilityDate = "${top.compatibility_date}"`);
    expect(compatibilityFlags).toEqual(top.compatibility_flags);
    for (const f of top.compatibility_flags) expect(capnp).toContain(`"${f}"`);
    for (const b of top.durable_objects.bindings) {
      expect(capnp).toContain(`(name = "${b.name}", durableObjectNamespace = "${b.class_name}")`);
      expect(capnp).toContain(`(className = "${b.class_name}", uniqueKey = "ams-${b.class_name}", enableSql = true)`);
    }
    expect(capnp).toContain('durableObjectStorage = (localDisk = "state")');
    expect(capnp).toContain('(name = "state", disk = (path = "/tmp/state", writable = true))');
    expect(capnp).toContain('address = "127.0.0.1:8788"');
  });

  it('serves public/ through its own asset service under the binding wrangler.toml names', () => {
    const { capnp, assetsBinding } = generateConfig(TOML, base);
    expect(assetsBinding).toBe('ASSETS');
    expect(capnp).toContain('(name = "ASSETS", service = "assets")');
    expect(capnp).toContain(`disk = (path = "${resolve(ROOT, 'public')}", writable = false)`);
  });

  it('lets development reach local and private addresses, and production only public ones', () => {
    expect(generateConfig(TOML, base).capnp).toContain('network = (allow = ["public", "private", "local"]');
    expect(generateConfig(TOML, { ...base, development: false }).capnp).toContain('network = (allow = ["public"]');
  });

  it('leaves out bindings plain workerd cannot provide, and names them', () => {
    const toml = `${TOML.split('\n[env.')[0]}\n[[analytics_engine_datasets]]\nbinding = "EVENTS"\n[vars]\nGREETING = "hi"\nLIMIT = 3\n`;
    const { capnp, omitted } = generateConfig(toml, base);
    expect(omitted).toEqual(['analytics_engine_datasets']);
    expect(capnp).not.toContain('EVENTS');
    expect(capnp).toContain('(name = "GREETING", text = "hi")');
    expect(capnp).toContain('(name = "LIMIT", text = "3")');
    expect(capnp).toContain('(name = "AMS_ENV", text = "development")');
  });

  it('follows migrations: key-value classes, renames and deletions', () => {
    const classes = sqliteClasses([
      { new_sqlite_classes: ['A', 'B'] },
      { new_classes: ['Old'] },
      { renamed_classes: [{ from: 'B', to: 'C' }], deleted_classes: ['A'] },
    ]);
    expect([...classes]).toEqual([['Old', false], ['C', true]]);
  });

  it('refuses a wrangler.toml without a compatibility date', () => {
    expect(() => generateConfig('name = "x"\n', base)).toThrow(/compatibility_date/);
  });
});
