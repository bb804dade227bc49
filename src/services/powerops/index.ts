/**
 * Public surface of the powerOps service (core-services.md §6), including
 * the halt/reboot backends other services reuse (customization reboots
 * through `chooseBackend(...).backend.reboot()`).
 */
export * from './constants';
export * from './backends';
export * from './detect';
export { DBusConnection, encodeMessage, MessageReader, Message, MessageType, Field, LOGIND, DEFAULT_SYSTEM_BUS_SOCKET } from './dbus';
export { planScript, listDropIns, runScript, ScriptPlan, ScriptOutcome, RunningScript } from './scripts';
export { PowerOpsService, PowerOpsServiceOptions, PowerOpsConfig, PowerOpsLogger, AFTER_REPLY_MS, outcomeLine } from './service';
