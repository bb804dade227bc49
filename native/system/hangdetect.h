/*
 * hangdetect.h -- the tools hang detector's sampling thread
 * (core-services.md §5.3; open-vm-tools services/vmtoolsd/toolsHangDetector.c).
 *
 * The main loop checks in (hd_checkin) every interval, resetting a counter
 * to HD_COUNTER_RESET. This thread wakes every interval, decrements it and
 * timestamps the sample. When the counter has run down to 0 the state
 * becomes hung -- or guest_slow when the last HD_COUNTER_RESET intervals
 * took more than HD_STARVE_THRESHOLD times their nominal length, meaning
 * the whole guest was starved -- and when it is positive again, normal.
 * Each transition sends `update.tools.health <state>` (no NUL) on a fresh
 * one-shot backdoor RPCI channel, from this thread, so it works while the
 * main loop is blocked: that is the point.
 *
 * After a send the host refused, no further updates go out until
 * hd_rearm() (the `reset` handler's job, ToolsCoreHangDetector_RpcReset).
 */
#ifndef VMTOOLS_HANGDETECT_H
#define VMTOOLS_HANGDETECT_H

#include <stdint.h>

#include "backdoor/message.h"

#ifdef __cplusplus
extern "C" {
#endif

/* core-services.md §5.3, reference-figures.md §7 */
#define HD_INTERVAL_MS       1000u /* check-in and sampling period */
#define HD_COUNTER_RESET     5     /* samples without a check-in before "hung" */
#define HD_STARVE_THRESHOLD  1.5   /* 5 samples > 5 x 1 s x 1.5 = 7.5 s: guest_slow */
#define HD_HEALTH_CMD        "update.tools.health"

typedef enum hd_state {
   HD_NORMAL = 0,
   HD_HUNG,
   HD_GUEST_SLOW
} hd_state;

/* What became of a transition's health update. */
typedef enum hd_outcome {
   HD_SENT = 0,     /* host answered "1 " */
   HD_REJECTED,     /* host answered "0 ", or the RPC failed after OPEN: updates stop */
   HD_OPEN_FAILED,  /* no channel could be opened: skipped, later updates still go */
   HD_SUPPRESSED    /* not sent: an earlier update was rejected and no rearm since */
} hd_outcome;

/* One transition, as reported to the owner (from the detector thread). */
typedef struct hd_event {
   hd_state state;
   hd_outcome outcome;
   /* Wall time of the last HD_COUNTER_RESET sample intervals, newest
    * first (as GetTimeSeqString logs them); only for HUNG / GUEST_SLOW. */
   double intervals_ms[HD_COUNTER_RESET];
   double elapsed_ms;            /* their sum; compared with the threshold */
   char request[64];             /* the RPC text, e.g. "update.tools.health hung" */
   char detail[256];             /* host reply text or the error, may be empty */
} hd_event;

/* Called on the detector thread; must not block for long. */
typedef void (*hd_event_fn)(const hd_event *ev, void *ctx);

typedef struct hd_detector hd_detector;

/*
 * Starts the thread (first sample immediately, as the reference does).
 * interval_ms: check-in/sampling period (HD_INTERVAL_MS in production).
 * starve_ms: tests only -- the thread oversleeps each sample by this much,
 * as it would in a starved guest; 0 in production.
 */
vmt_status hd_start(unsigned interval_ms, unsigned starve_ms, hd_event_fn fn,
                    void *ctx, hd_detector **out, vmt_error *err);

/* The main loop's check-in: counter back to HD_COUNTER_RESET. */
void hd_checkin(hd_detector *d);

/* Allow health updates again after a rejection (on `reset`). */
void hd_rearm(hd_detector *d);

hd_state hd_get_state(hd_detector *d);

/* Wakes and joins the thread (after any RPC in flight), then frees d. */
void hd_stop(hd_detector *d);

const char *hd_state_name(hd_state s);
const char *hd_outcome_name(hd_outcome o);

#ifdef __cplusplus
}
#endif

#endif
