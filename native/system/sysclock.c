/*
 * sysclock.c -- see sysclock.h.
 */
#define _GNU_SOURCE
#include "system/sysclock.h"

#include <errno.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

vmt_status sysclock_gettime(sysclock_id id, int64_t *sec, int64_t *nsec, vmt_error *err)
{
   struct timespec ts;
   clockid_t c = id == SYSCLOCK_MONOTONIC ? CLOCK_MONOTONIC : CLOCK_REALTIME;
   if (clock_gettime(c, &ts) != 0) {
      return vmt_sys_fail(err, errno, "clock_gettime(%s)", id == SYSCLOCK_MONOTONIC ? "CLOCK_MONOTONIC" : "CLOCK_REALTIME");
   }
   *sec = (int64_t)ts.tv_sec;
   *nsec = (int64_t)ts.tv_nsec;
   return VMT_OK;
}

vmt_status sysclock_settime(int64_t sec, int64_t nsec, vmt_error *err)
{
   struct timespec ts;
   ts.tv_sec = (time_t)sec;
   ts.tv_nsec = (long)nsec;
   if (clock_settime(CLOCK_REALTIME, &ts) != 0) {
      return vmt_sys_fail(err, errno, "clock_settime(CLOCK_REALTIME)");
   }
   return VMT_OK;
}

vmt_status sysclock_adjtimex(sysclock_timex *tx, vmt_error *err)
{
   struct timex t;
   int r;
   memset(&t, 0, sizeof t);
   t.modes = tx->modes;
   t.offset = (long)tx->offset;
   t.freq = (long)tx->freq;
   t.maxerror = (long)tx->maxerror;
   t.esterror = (long)tx->esterror;
   t.status = tx->status;
   t.constant = (long)tx->constant;
   t.tick = (long)tx->tick;
   r = adjtimex(&t);
   if (r == -1) {
      return vmt_sys_fail(err, errno, "adjtimex(modes 0x%04x)", tx->modes);
   }
   tx->offset = t.offset;
   tx->freq = t.freq;
   tx->maxerror = t.maxerror;
   tx->esterror = t.esterror;
   tx->status = t.status;
   tx->constant = t.constant;
   tx->precision = t.precision;
   tx->tolerance = t.tolerance;
   tx->tick = t.tick;
   tx->time_sec = (int64_t)t.time.tv_sec;
   tx->time_usec = (int64_t)t.time.tv_usec;
   tx->state = r;
   return VMT_OK;
}
