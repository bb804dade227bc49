export * from './constants';
export * from './holder';
export * from './manifest';
export * from './mounts';
export * from './params';
export * from './scripts';
export { VmBackupService, VmBackupConfig, VmBackupDeps, VmBackupLogger } from './machine';
