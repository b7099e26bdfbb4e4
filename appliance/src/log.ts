import { pino } from 'pino';

export type Logger = pino.Logger;

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** One structured logger for the process (JSON lines on stdout). */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { svc: 'parley' }, timestamp: pino.stdTimeFunctions.isoTime });
}
