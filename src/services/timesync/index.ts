/** The timeSync service (core-services.md §7). */
export * from './clock';
export * from './constants';
export * from './engine';
export * from './hostTime';
export * from './service';
export * from './simulatedClock';
export * from './timeDaemons';
export * from './modelHostTime';
