/** tools.conf: reading, typed access, live reload and editing. */
export * from './atomic-write';
export * from './config-loader';
export * from './config-watcher';
export * from './environment';
export * from './keyfile';
export * from './keyfile-editor';
export * from './keyfile-values';
export * from './paths';
export * from './schema';
export * from './toolbox-config';
export * from './tools-config';
export * from './schema-doc';
