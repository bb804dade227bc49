/**
 * Time sync constants, each from the reference (core-services.md §7,
 * channel.md §2.6, reference-figures.md §7-8).
 */

/** channel.md §2.6: backdoor commands. */
export const BDOOR_MAGIC = 0x564d5868;
export const BDOOR_CMD_GETTIME = 23;
export const BDOOR_CMD_STOPCATCHUP = 24;
export const BDOOR_CMD_GETTIMEFULL = 46;
export const BDOOR_CMD_GETTIMEFULL_WITH_LAG = 55;

export const US_PER_SEC = 1_000_000;

/** §7.1: at most 4 samples; accept when two host reads are ≤ 2000 µs apart. */
export const TIMESYNC_MAX_SAMPLES = 4;
export const TIMESYNC_GOOD_SAMPLE_THRESHOLD_US = 2000;

/** §7.6 / reference-figures.md §7: loop period, s (Set_Option synctime.period 0 → 60). */
export const TIMESYNC_DEFAULT_PERIOD_S = 60;
/** §4 / §7.4: share of the error corrected per period when slewing, %. */
export const TIMESYNC_PERCENT_CORRECTION = 50;

/** §7.4 (slewLinux.c): USER_HZ 100, nominal tick 10000 µs, ±10 %. */
export const USER_HZ = 100;
export const TICK_INCR_NOMINAL = 10000;
export const TICK_INCR_MIN = 9000;
export const TICK_INCR_MAX = 11000;

/** §7.5 (timeSync.c/pllLinux.c). */
export const TIMESYNC_PLL_ACTIVATE_US = 30_000;
export const TIMESYNC_PLL_UNSYNC_US = 2 * TIMESYNC_PLL_ACTIVATE_US;
export const TIMESYNC_CALIBRATION_DURATION_US = 15 * 60 * US_PER_SEC;
export const TIMESYNC_PLL_MAX_PPM = 500;
export const PLL_OFFSET_CLAMP_US = 500_000;
/** §7.5: the kernel reports time constant 4 after ADJ_TIMECONST 0 (USER_HZ scale, +4 without STA_NANO). */
export const PLL_KERNEL_TIME_CONSTANT = 4;

/** §4: Set_Option names the timeSync plugin consumes (timesync.h / tclodefs.h). */
export const OPTION = {
  SYNCTIME: 'synctime',
  PERIOD: 'synctime.period',
  ENABLE: 'time.synchronize.tools.enable',
  STARTUP: 'time.synchronize.tools.startup',
  STARTUP_BACKWARD: 'time.synchronize.tools.startup.backward',
  SLEW_CORRECTION: 'time.synchronize.tools.slewCorrection',
  PERCENT_CORRECTION: 'time.synchronize.tools.percentCorrection',
  GUEST_RESYNC: 'time.synchronize.guest.resync',
  GUEST_RESYNC_TIMEOUT: 'time.synchronize.guest.resync.timeout',
} as const;

/** §7.6: TCLO command and replies. */
export const TIMESYNC_SYNCHRONIZE = 'Time_Synchronize';
export const REPLY_UNABLE_TO_SYNC = 'Unable to sync time';
export const REPLY_UNABLE_TO_TOKENIZE = 'Unable to tokenize TimeSync RPC data';
export const TIMEINFO_UPDATE = 'TimeInfo_Update';
export const REPLY_TIMEINFO_DISABLED = 'TimeInfo not enabled';
