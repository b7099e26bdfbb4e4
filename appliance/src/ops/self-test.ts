import { loadConfig, ConfigError, type Config } from '../config/config.js';
import { checkStore, checkPorts, checkCertificate, checkDns, type CheckResult } from './self-test-checks.js';
import { checkLive } from './self-test-live.js';

const LABEL: Record<CheckResult['status'], string> = { ok: 'OK  ', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

/** One line per check: `OK   store      …`. */
export const formatCheck = (c: CheckResult): string => `${LABEL[c.status]} ${c.name.padEnd(9)} ${c.detail.replace(/\n\s*/g, ' ')}`;

/**
 * `parley self-test`: is the installation right, and if not, what to change. Reads the config,
 * the data folder, the certificate and DNS without changing any of them (the throwaway users of
 * the live round trip excepted, removed at the end). Resolves to the exit status: 1 when any
 * check failed, else 0 (warnings and skips included).
 */
export async function selfTest(configFile: string | undefined, print: (line: string) => void): Promise<number> {
  let config: Config;
  try {
    config = loadConfig(configFile);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    print(formatCheck({ name: 'config', status: 'fail', detail: err.message }));
    return 1;
  }
  const results: CheckResult[] = [{ name: 'config', status: 'ok', detail: `valid; domain ${config.domain}, data folder ${config.dataDir}` }];
  print(formatCheck(results[0]));
  const run = async (check: () => Promise<CheckResult | CheckResult[]> | CheckResult): Promise<void> => {
    for (const r of [await check()].flat()) {
      results.push(r);
      print(formatCheck(r));
    }
  };
  await run(() => checkStore(config));
  await run(() => checkPorts(config));
  await run(() => checkCertificate(config));
  await run(() => checkDns(config));
  const storeOk = results.find((r) => r.name === 'store')?.status !== 'fail';
  if (storeOk) await run(() => checkLive(config));
  else await run(() => ({ name: 'sip', status: 'skip', detail: 'the live round trip needs a usable store (see above)' }));
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
