/**
 * One `wrangler dev` for the whole end-to-end run, for the files that only
 * talk to a broker (`sharedBroker()` in support.ts): starting one takes
 * seconds, and most files never stop, kill or reconfigure theirs. Files that
 * do (a restart, other vars, another log level, plain workerd) start their own.
 */
import type { TestProject } from 'vitest/node';
import { startBroker } from '../support/broker';

export interface SharedBrokerAddress {
  url: string;
  port: number;
  stateDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    broker: SharedBrokerAddress;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const broker = await startBroker();
  project.provide('broker', { url: broker.url, port: broker.port, stateDir: broker.stateDir });
  return () => broker.stop();
}
