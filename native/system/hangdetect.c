/*
 * hangdetect.c -- the tools hang detector's sampling thread (see hangdetect.h).
 *
 * Mirrors toolsHangDetector.c step for step: DetectorThread (decrement,
 * timestamp, DetectorUpdate, sleep until sample time + interval),
 * UpdateStateToHung's guest_slow test, UpdateVmx's one-shot channel and its
 * vmxRejectedHealthUpdate latch.
 */
#define _GNU_SOURCE
#include "system/hangdetect.h"
#include "backdoor/rpcout.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hd_detector {
   atomic_int counter;      /* reset by hd_checkin, decremented per sample */
   atomic_int state;        /* hd_state; written by the thread only */
   atomic_int rejected;     /* vmxRejectedHealthUpdate */

   pthread_mutex_t mu;      /* mu/cv/terminate: the thread's interruptible sleep */
   pthread_cond_t cv;
   int terminate;
   pthread_t thread;

   unsigned interval_ms;
   unsigned starve_ms;
   hd_event_fn fn;
   void *ctx;

   /* time_seq[v]: when the sample that saw counter value v ran (µs,
    * CLOCK_MONOTONIC); detector thread only. */
   int64_t time_seq[HD_COUNTER_RESET + 1];
};

const char *hd_state_name(hd_state s)
{
   /* TOOLS_HEALTH_{NORMAL,HUNG,GUEST_SLOW}_KEY (vmware/guestrpc/tclodefs.h) */
   switch (s) {
   case HD_NORMAL: return "normal";
   case HD_HUNG: return "hung";
   case HD_GUEST_SLOW: return "guest_slow";
   default: return "unknown";
   }
}

const char *hd_outcome_name(hd_outcome o)
{
   switch (o) {
   case HD_SENT: return "sent";
   case HD_REJECTED: return "rejected";
   case HD_OPEN_FAILED: return "open-failed";
   case HD_SUPPRESSED: return "suppressed";
   default: return "unknown";
   }
}

static int64_t monotonic_us(void)
{
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* UpdateVmx: one health update on a fresh one-shot backdoor RPCI channel. */
static void send_health(hd_detector *d, hd_event *ev)
{
   rpcout_result res;
   vmt_error err;

   if (atomic_load(&d->rejected)) {
      ev->outcome = HD_SUPPRESSED;
      return;
   }
   /* Backdoor only, like BackdoorChannel_New in the reference: this must
    * not depend on the vsock transport the rest of the daemon may use. */
   vmt_status st = rpcout_send_one((const uint8_t *)ev->request,
                                   strlen(ev->request), 0, &res, &err);
   if (st != VMT_OK) {
      snprintf(ev->detail, sizeof ev->detail, "%s: %.200s", vmt_status_name(st), err.message);
      if (res.failed == RPCOUT_STAGE_OPEN) {
         /* RpcChannel_Start failed: the reference warns and does not latch. */
         ev->outcome = HD_OPEN_FAILED;
      } else {
         /* RpcChannel_Send failed: latched like a refusal. */
         ev->outcome = HD_REJECTED;
         atomic_store(&d->rejected, 1);
      }
      return;
   }
   snprintf(ev->detail, sizeof ev->detail, "%.*s",
            (int)(res.reply_len < 200 ? res.reply_len : 200), (const char *)res.reply);
   if (res.ok) {
      ev->outcome = HD_SENT;
   } else {
      ev->outcome = HD_REJECTED;
      atomic_store(&d->rejected, 1);
   }
   free(res.owned);
}

static void transition(hd_detector *d, hd_state to)
{
   hd_event ev;

   memset(&ev, 0, sizeof ev);
   ev.state = to;
   if (to != HD_NORMAL) {
      for (int i = 0; i < HD_COUNTER_RESET; i++) {
         ev.intervals_ms[i] = (double)(d->time_seq[i] - d->time_seq[i + 1]) / 1000.0;
      }
      ev.elapsed_ms = (double)(d->time_seq[0] - d->time_seq[HD_COUNTER_RESET]) / 1000.0;
   }
   /* Visible to hd_get_state before the RPC, which may take a while. */
   atomic_store(&d->state, to);
   snprintf(ev.request, sizeof ev.request, "%s %s", HD_HEALTH_CMD, hd_state_name(to));
   send_health(d, &ev);
   d->fn(&ev, d->ctx);
}

/* DetectorUpdate: `old` is the counter value before this sample's decrement. */
static void sample(hd_detector *d, int old, int64_t now)
{
   if (old >= 0 && old <= HD_COUNTER_RESET) {
      d->time_seq[old] = now;
   }
   if (atomic_load(&d->state) == HD_NORMAL) {
      if (old <= 0) {
         double elapsed_ms = (double)(d->time_seq[0] - d->time_seq[HD_COUNTER_RESET]) / 1000.0;
         double limit_ms = (double)d->interval_ms * HD_COUNTER_RESET * HD_STARVE_THRESHOLD;
         transition(d, elapsed_ms > limit_ms ? HD_GUEST_SLOW : HD_HUNG);
      }
   } else if (old > 0) {
      transition(d, HD_NORMAL);
   }
}

/* SleepToExit: 1 when told to terminate, 0 when end_us passed. */
static int sleep_until(hd_detector *d, int64_t end_us)
{
   struct timespec ts = { .tv_sec = end_us / 1000000, .tv_nsec = (end_us % 1000000) * 1000 };
   int terminate;

   pthread_mutex_lock(&d->mu);
   while (!d->terminate) {
      if (pthread_cond_timedwait(&d->cv, &d->mu, &ts) == ETIMEDOUT) {
         break;
      }
   }
   terminate = d->terminate;
   pthread_mutex_unlock(&d->mu);
   return terminate;
}

static void *detector_thread(void *arg)
{
   hd_detector *d = arg;

   for (;;) {
      int old = atomic_fetch_sub(&d->counter, 1);
      int64_t now = monotonic_us();
      sample(d, old, now);
      /* Measured from the sample, not from the previous deadline: a late
       * wake-up shows in the next interval, which guest_slow relies on. */
      if (sleep_until(d, now + (int64_t)(d->interval_ms + d->starve_ms) * 1000)) {
         break;
      }
   }
   return NULL;
}

vmt_status hd_start(unsigned interval_ms, unsigned starve_ms, hd_event_fn fn,
                    void *ctx, hd_detector **out, vmt_error *err)
{
   pthread_condattr_t ca;
   sigset_t all, old;
   int rc;

   hd_detector *d = calloc(1, sizeof *d);
   if (d == NULL) {
      return vmt_fail(err, VMT_NO_MEMORY, "hang detector: out of memory");
   }
   atomic_init(&d->counter, HD_COUNTER_RESET);
   atomic_init(&d->state, HD_NORMAL);
   atomic_init(&d->rejected, 0);
   d->interval_ms = interval_ms;
   d->starve_ms = starve_ms;
   d->fn = fn;
   d->ctx = ctx;

   pthread_mutex_init(&d->mu, NULL);
   /* Deadlines on the monotonic clock: a clock step (timeSync!) must not
    * stretch or shrink a sample interval. */
   pthread_condattr_init(&ca);
   pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
   pthread_cond_init(&d->cv, &ca);
   pthread_condattr_destroy(&ca);

   /* Process-directed signals (SIGTERM, SIGCHLD ...) stay with Node's own
    * threads. The faults stay deliverable: on the trap shim a backdoor
    * call is a SIGSEGV on this very thread. */
   sigfillset(&all);
   sigdelset(&all, SIGSEGV);
   sigdelset(&all, SIGBUS);
   sigdelset(&all, SIGILL);
   sigdelset(&all, SIGFPE);
   pthread_sigmask(SIG_BLOCK, &all, &old);
   rc = pthread_create(&d->thread, NULL, detector_thread, d);
   pthread_sigmask(SIG_SETMASK, &old, NULL);
   if (rc != 0) {
      pthread_cond_destroy(&d->cv);
      pthread_mutex_destroy(&d->mu);
      free(d);
      vmt_fail(err, VMT_IO, "hang detector: pthread_create: %s", strerror(rc));
      if (err != NULL) {
         err->sys_errno = rc;
      }
      return VMT_IO;
   }
   pthread_setname_np(d->thread, "HangDetector");
   *out = d;
   return VMT_OK;
}

void hd_checkin(hd_detector *d)
{
   atomic_store(&d->counter, HD_COUNTER_RESET);
}

void hd_rearm(hd_detector *d)
{
   atomic_store(&d->rejected, 0);
}

hd_state hd_get_state(hd_detector *d)
{
   return (hd_state)atomic_load(&d->state);
}

void hd_stop(hd_detector *d)
{
   pthread_mutex_lock(&d->mu);
   d->terminate = 1;
   pthread_cond_signal(&d->cv);
   pthread_mutex_unlock(&d->mu);
   pthread_join(d->thread, NULL);
   pthread_cond_destroy(&d->cv);
   pthread_mutex_destroy(&d->mu);
   free(d);
}
