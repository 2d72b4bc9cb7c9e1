import { DefaultLogger, type LogLevel } from '@temporalio/worker';
import type { Logger } from '../logger.js';

const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** Routes the Temporal SDK's own log lines (worker and workflow loggers) through pino as JSON. */
export function temporalLogger(logger: Logger, level: LogLevel = 'INFO'): DefaultLogger {
  return new DefaultLogger(level, ({ level: entryLevel, message, meta }) => {
    logger[levels[entryLevel]]({ ...meta, component: 'temporal' }, message);
  });
}
