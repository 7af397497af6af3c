/**
 * `npm run serve [-- --state DIR] [--production] [--port N]`: the Worker as a
 * deployment runs it, in plain workerd on this machine (test/support/serve.ts).
 * Port: --port, else $PORT, else 8788. State: --state, else .wrangler/serve-state.
 * --production takes AMS_CREDENTIAL_PEPPER and AMS_LINK_SECRET from the environment.
 */
import { resolve } from 'node:path';
import { startServe } from './serve';

const args = process.argv.slice(2);
const valueOf = (name: string) => {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return args[i].includes('=') ? args[i].slice(args[i].indexOf('=') + 1) : args[i + 1];
};
const production = args.includes('--production');
const port = Number(valueOf('port') ?? process.env.PORT ?? 8788);
const stateDir = resolve(valueOf('state') ?? resolve(import.meta.dirname, '../../.wrangler/serve-state'));

try {
  const served = await startServe({ port, stateDir, production, inherit: true });
  process.stderr.write(
    [
      `AMS on plain workerd (the Worker outermost, as deployed): ${served.url}`,
      `  AMS_ENV=${production ? 'production' : 'development'}; state in ${served.stateDir}`,
      `  compatibility flags: ${served.compatibilityFlags.join(', ') || 'none'}`,
      ...(served.omitted.length ? [`  left out (plain workerd cannot provide them): ${served.omitted.join(', ')}`] : []),
      '',
    ].join('\n'),
  );
  const stop = () => void served.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await new Promise<void>((r) => served.process.once('exit', () => r()));
  process.stderr.write('workerd exited\n');
  process.exit(1);
} catch (err) {
  process.stderr.write(`npm run serve: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
