/**
 * The help texts of vmware-toolbox-cmd, word for word as open-vm-tools 12.2
 * prints them in English (toolbox/l10n/en.vmsg: help.main, help.<command>).
 * Each command text is "<command>: …" and its usage line names the program.
 */

export function mainHelp(prog: string, cmd: string): string {
  return (
    `Usage: ${prog} <command> [options] [subcommand]\n` +
    `Type '${prog} ${cmd} <command>' for help on a specific command.\n` +
    `Type '${prog} -v' to see the VMware Tools version.\n` +
    "Use '-q' option to suppress stdout output.\n" +
    'Most commands take a subcommand.\n\n' +
    'Available commands:\n' +
    '   config\n' +
    '   device\n' +
    '   disk (not available on all operating systems)\n' +
    '   globalconf (not available on all operating systems)\n' +
    '   gueststore (not available on all operating systems)\n' +
    '   info\n' +
    '   logging\n' +
    '   script\n' +
    '   stat\n' +
    '   timesync\n' +
    '   upgrade (not available on all operating systems)\n'
  );
}

/** VMTOOLS_LOGGING_LEVEL_DEFAULT in a release build. */
export const LOGGING_LEVEL_DEFAULT = 'message';

const COMMAND_HELP: Record<string, (prog: string, cmd: string) => string> = {
  timesync: (p, c) =>
    `${c}: functions for controlling time synchronization on the guest OS\n` +
    `Usage: ${p} ${c} <subcommand>\n\n` +
    'Subcommands:\n' +
    '   enable: enable time synchronization\n' +
    '   disable: disable time synchronization\n' +
    '   status: print the time synchronization status\n',
  script: (p, c) =>
    `${c}: control the scripts run in response to power operations\n` +
    `Usage: ${p} ${c} <power|resume|suspend|shutdown> <subcommand> [args]\n\n` +
    'Subcommands:\n' +
    '   enable: enable the given script and restore its path to the default\n' +
    '   disable: disable the given script\n' +
    '   set <full_path>: set the given script to the given path\n' +
    '   default: print the default path of the given script\n' +
    '   current: print the current path of the given script\n' +
    '   NOTE: If the path is not present in tools.conf, its\n' +
    '   value from the global configuration is returned if present\n',
  disk: (p, c) =>
    `${c}: perform disk shrink operations\n` +
    `Usage: ${p} ${c} <subcommand> [args]\n\n` +
    'Subcommands:\n' +
    '   list: list available locations\n' +
    '   shrink <location>: wipes and shrinks a file system at the given location\n' +
    '   shrinkonly: shrinks all disks\n' +
    '   wipe <location>: wipes a file system at the given location\n',
  stat: (p, c) =>
    `${c}: print useful guest and host information\n` +
    `Usage: ${p} ${c} <subcommand>\n\n` +
    'Subcommands:\n' +
    '   hosttime: print the host time\n' +
    '   speed: print the CPU speed in MHz\n' +
    'ESX guests only subcommands:\n' +
    '   sessionid: print the current session id\n' +
    '   balloon: print memory ballooning information\n' +
    '   swap: print memory swapping information\n' +
    '   memlimit: print memory limit information\n' +
    '   memres: print memory reservation information\n' +
    '   cpures: print CPU reservation information\n' +
    '   cpulimit: print CPU limit information\n' +
    '   raw [<encoding> <stat name>]: print raw stat information\n' +
    "      <encoding> can be one of 'text', 'json', 'xml', 'yaml'.\n" +
    '      <stat name> includes session, host, resources, vscsi and\n' +
    "      vnet (Some stats like vscsi are two words, e.g. 'vscsi scsi0:0').\n" +
    '      Prints the available stats if <encoding> and <stat name>\n' +
    '      arguments are not specified.\n',
  device: (p, c) =>
    `${c}: functions related to the virtual machine's hardware devices\n` +
    `Usage: ${p} ${c} <subcommand> [args]\n` +
    'dev is the name of the device.\n\n' +
    'Subcommands:\n' +
    '   enable <dev>: enable the device dev\n' +
    '   disable <dev>: disable the device dev\n' +
    '   list: list all available devices\n' +
    '   status <dev>: print the status of a device\n',
  gueststore: (p, c) =>
    `${c}: get resource content from GuestStore\n` +
    `Usage: ${p} ${c} <subcommand>\n\n` +
    'ESX guests only subcommands:\n' +
    '   getcontent <resource path> <output file>: get resource content from GuestStore and save to output file.\n\n' +
    "<resource path> starts with / and represents a unique resource in GuestStore. If it ends with /, defaults to retrieve the underlying 'metadata.json' resource.\n" +
    '<output file> is the path of a file to save resource content to.\n',
  globalconf: (p, c) =>
    `${c}: Manage global configuration downloads from the GuestStore\n` +
    `Usage: ${p} ${c} <subcommand>\n\n` +
    'ESX guests only subcommands:\n' +
    '   enable: Enable the global configuration module\n' +
    '   disable: Disable the global configuration module\n' +
    '   refresh: Trigger a new download of the global configuration from the GuestStore\n' +
    '   status: Print the status of the global configuration module\n',
  logging: (p, c) =>
    `${c}: modify tools logging\n` +
    `Usage: ${p} ${c} level <subcommand> <servicename> <level>\n\n` +
    'Subcommands:\n' +
    '   get <servicename>: display current level\n' +
    '   NOTE: If the level is not present in tools.conf, its\n' +
    '   value from the global configuration is returned if present\n' +
    '   set <servicename> <level>: set current level\n\n' +
    '<servicename> can be any supported service, such as vmsvc or vmusr\n' +
    '<level> can be one of error, critical, warning, info, message, debug\n' +
    `   default is ${LOGGING_LEVEL_DEFAULT}\n`,
  info: (p, c) =>
    `${c}: update guest information on the host\n` +
    `Usage: ${p} ${c} update <infoclass>\n\n` +
    'Subcommands:\n' +
    '   update <infoclass>: update information identified by <infoclass>\n' +
    "<infoclass> can be 'network'\n",
  config: (p, c) =>
    `${c}: modify Tools configuration\n` +
    `Usage: ${p} ${c} <subcommand>\n\n` +
    'Subcommands:\n' +
    '   get <section> <key>: display current value for <key>\n' +
    '   NOTE: If the <key> is not present in tools.conf, its\n' +
    '   value from the global configuration is returned if present\n' +
    '   set <section> <key> <value>: set <key> to <value>\n\n' +
    '   remove <section> <key>: remove <key>\n\n' +
    '<section> can be any supported section, such as logging, guestoperations or guestinfo.\n' +
    '<key> can be any configuration key.\n' +
    '<value> can be any value.\n',
};

/** The help of one command, or of the program for "help". */
export function commandHelp(prog: string, cmd: string): string {
  const h = COMMAND_HELP[cmd];
  return h ? h(prog, cmd) : mainHelp(prog, cmd);
}
