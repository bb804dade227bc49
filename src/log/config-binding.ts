/**
 * Ties the logger to the configuration watcher: tools.conf warnings are
 * logged, and a change under [logging] reconfigures levels and outputs on
 * the fly (as vmtoolsd does on its conf-reload signal).
 */
import type { ConfigChangeEvent, ConfigWatcher } from '../config/config-watcher';
import type { ConfigWarning } from '../config/tools-config';
import type { Logger, RootLogger } from './logger';

export function logConfigWarning(logger: Logger, w: ConfigWarning): void {
  if (w.severity === 'warning') logger.warn('%s', w.message);
  else logger.info('%s', w.message);
}

/** Returns a function that detaches the listeners. */
export function followConfig(logger: RootLogger, watcher: ConfigWatcher): () => void {
  const onWarning = (w: ConfigWarning): void => logConfigWarning(logger, w);
  const onChange = (e: ConfigChangeEvent): void => {
    if (e.touches('logging')) logger.reconfigure(e.config);
  };
  watcher.on('warning', onWarning);
  watcher.on('change', onChange);
  return () => {
    watcher.off('warning', onWarning);
    watcher.off('change', onChange);
  };
}
