// The bindings tests reach through `import { env } from 'cloudflare:test'` are the Worker's own.
type AmsWorkerEnv = import('../../src/control/env').Env;
declare namespace Cloudflare {
  interface Env extends AmsWorkerEnv {}
}
