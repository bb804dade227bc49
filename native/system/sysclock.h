/*
 * sysclock.h -- the guest clock syscalls time sync needs (core-services.md
 * §7.3-7.5): clock_gettime, clock_settime and adjtimex (the kernel NTP
 * state: tick, frequency, PLL offset, status, time constant).
 *
 * Plain C so the addon part (native/addon/clock.cc) stays a converter.
 * Failures are VMT_IO with the errno in err->sys_errno; the TypeScript
 * front (src/native/index.ts) turns them into ClockError codes.
 */
#ifndef VMTOOLS_SYSCLOCK_H
#define VMTOOLS_SYSCLOCK_H

#include <stdint.h>

#include "backdoor/message.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The clocks exposed (mapped to CLOCK_REALTIME / CLOCK_MONOTONIC). */
typedef enum sysclock_id {
   SYSCLOCK_REALTIME = 0,
   SYSCLOCK_MONOTONIC = 1,
} sysclock_id;

/* The writable/readable subset of struct timex, in the kernel's units. */
typedef struct sysclock_timex {
   uint32_t modes;     /* ADJ_* bits to set; 0 = read only */
   int64_t offset;     /* µs (ns with STA_NANO) */
   int64_t freq;       /* ppm << 16 */
   int64_t maxerror;   /* µs */
   int64_t esterror;   /* µs */
   int32_t status;     /* STA_* */
   int64_t constant;   /* PLL time constant */
   int64_t precision;  /* read only */
   int64_t tolerance;  /* read only */
   int64_t tick;       /* µs per tick */
   int64_t time_sec;   /* read only: the time with the call */
   int64_t time_usec;
   int32_t state;      /* return value: TIME_OK, TIME_INS, ..., TIME_ERROR */
} sysclock_timex;

vmt_status sysclock_gettime(sysclock_id id, int64_t *sec, int64_t *nsec, vmt_error *err);

/* clock_settime(CLOCK_REALTIME). The kernel validates nsec (EINVAL) before it checks CAP_SYS_TIME. */
vmt_status sysclock_settime(int64_t sec, int64_t nsec, vmt_error *err);

/* adjtimex(2) with tx->modes; on success every field is the kernel's state after the call. */
vmt_status sysclock_adjtimex(sysclock_timex *tx, vmt_error *err);

#ifdef __cplusplus
}
#endif

#endif
