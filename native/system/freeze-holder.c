/*
 * vmtoolsd-freeze-holder -- freezes mount points and holds them frozen on
 * behalf of the daemon, so that nothing the daemon does (or fails to do)
 * can leave a file system frozen (quiesce.md §6.2, issue 6).
 *
 *   vmtoolsd-freeze-holder [--loop-only] [--ignore-frozen]
 *                          [--lease-ms N] [--deadline-ms N] -- PATH...
 *   vmtoolsd-freeze-holder --thaw-only [--loop-only] -- PATH...   (backstop)
 *
 * PATHs are frozen in the given order (the daemon passes reverse mount-table
 * order, §4.1) and thawed in reverse. Then the holder waits, holding the
 * fds, and thaws on the FIRST of:
 *   - "thaw\n" on stdin (snapshotDone, abort, timeout, shutdown);
 *   - EOF on stdin: the daemon exited or was SIGKILLed (the kernel closes
 *     its end of the pipe); PR_SET_PDEATHSIG(SIGTERM) is a second path;
 *   - SIGTERM, SIGINT, SIGHUP, SIGQUIT;
 *   - the lease running out: the daemon writes "renew\n" from its event
 *     loop (every keep-alive, 2.5 s); a hung event loop stops renewing;
 *   - the absolute deadline (--deadline-ms, from the start of the freeze).
 *
 * Reports on stdout, one line each:
 *   note <index> <what> <errno>              a path skipped (§4.2 rules)
 *   frozen <count> <first_freeze_ns>         all frozen; now holding
 *   failed error|unavailable|refused <errno> <index>   nothing left frozen
 *   thawed <failures> <errno> <last_thaw_ns> <reason>
 * Exit: 0 thawed cleanly, 1 freeze failed, 2 a FITHAW failed, 64 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "system/fsfreeze.h"

static void out(const char *fmt, ...) {
   char buf[256];
   va_list ap;
   va_start(ap, fmt);
   int n = vsnprintf(buf, sizeof buf, fmt, ap);
   va_end(ap);
   if (n <= 0) return;
   if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
   /* The daemon may be gone (EPIPE is ignored): best effort only. */
   ssize_t w = write(STDOUT_FILENO, buf, (size_t)n);
   (void)w;
}

static void on_note(void *ctx, int index, const char *what, int err) {
   (void)ctx;
   out("note %d %s %d\n", index, what, err);
}

static long parse_ms(const char *s) {
   char *end;
   errno = 0;
   long v = strtol(s, &end, 10);
   if (errno || *end || v < 0) return -1;
   return v;
}

/*
 * --thaw-only: FITHAW each PATH (in reverse order) and exit. The daemon's
 * backstop when a holder died without reporting its thaw (it cannot happen
 * short of a crash of this very program). EINVAL = was not frozen: fine.
 */
static int emergency_thaw(char **paths, int n, int loop_only) {
   int failures = 0, first_err = 0;
   for (int k = n - 1; k >= 0; k--) {
      int fd = open(paths[k], O_RDONLY | O_CLOEXEC | O_DIRECTORY);
      if (fd < 0) continue;
      vmt_target_info info;
      if (loop_only && (vmt_target_inspect_fd(fd, &info) != 0 || !info.is_loop || !info.is_mount_root)) {
         close(fd);
         continue;
      }
      if (ioctl(fd, VMT_FITHAW) != 0 && errno != EINVAL) {
         if (!failures) first_err = errno;
         failures++;
      }
      close(fd);
   }
   out("thawed %d %d %llu emergency\n", failures, first_err, (unsigned long long)vmt_monotonic_ns());
   return failures ? 2 : 0;
}

int main(int argc, char **argv) {
   int loop_only = 0, ignore_frozen = 0, thaw_only = 0, i = 1, bad = 0;
   long lease_ms = 0, deadline_ms = 0; /* 0 = none */
   for (; i < argc; i++) {
      if (!strcmp(argv[i], "--")) { i++; break; }
      if (!strcmp(argv[i], "--loop-only")) loop_only = 1;
      else if (!strcmp(argv[i], "--ignore-frozen")) ignore_frozen = 1;
      else if (!strcmp(argv[i], "--thaw-only")) thaw_only = 1;
      else if (!strcmp(argv[i], "--lease-ms") && i + 1 < argc) lease_ms = parse_ms(argv[++i]);
      else if (!strcmp(argv[i], "--deadline-ms") && i + 1 < argc) deadline_ms = parse_ms(argv[++i]);
      else if (argv[i][0] == '-') bad = 1;
      else break;
   }
   if (bad || lease_ms < 0 || deadline_ms < 0) {
      fprintf(stderr, "usage: vmtoolsd-freeze-holder [--loop-only] [--ignore-frozen] [--lease-ms N] [--deadline-ms N] -- PATH...\n");
      return 64;
   }

   signal(SIGPIPE, SIG_IGN);
   if (thaw_only) return emergency_thaw(&argv[i], argc - i, loop_only);
   /* Signals become readable events, so a thaw never runs in a handler. */
   sigset_t mask;
   sigemptyset(&mask);
   sigaddset(&mask, SIGTERM);
   sigaddset(&mask, SIGINT);
   sigaddset(&mask, SIGHUP);
   sigaddset(&mask, SIGQUIT);
   sigprocmask(SIG_BLOCK, &mask, NULL);
   int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
   pid_t parent = getppid();
   prctl(PR_SET_PDEATHSIG, SIGTERM);
   if (getppid() != parent) return 1; /* the daemon died before we froze anything */
   /* Nothing this process needs may have to come from a frozen disk. */
   mlockall(MCL_CURRENT | MCL_FUTURE);

   vmt_freeze_set set;
   int err = 0, err_index = -1;
   vmt_freeze_result r = vmt_freeze_paths((const char *const *)&argv[i], argc - i, loop_only,
                                          ignore_frozen, &set, &err, &err_index, on_note, NULL);
   if (r != VMT_FREEZE_OK) {
      const char *kind = r == VMT_FREEZE_UNAVAILABLE ? "unavailable" : r == VMT_FREEZE_REFUSED ? "refused" : "error";
      out("failed %s %d %d\n", kind, err, err_index);
      return 1;
   }
   uint64_t start = vmt_monotonic_ns();
   uint64_t renewed = start;
   out("frozen %d %llu\n", set.count, (unsigned long long)set.first_freeze_ns);

   const char *reason = "eof";
   char line[64];
   size_t used = 0;
   for (;;) {
      uint64_t now = vmt_monotonic_ns();
      long wait_ms = -1;
      if (deadline_ms > 0) {
         long left = (long)(((int64_t)start + deadline_ms * 1000000ll - (int64_t)now) / 1000000ll);
         if (left <= 0) { reason = "deadline"; break; }
         wait_ms = left;
      }
      if (lease_ms > 0) {
         long left = (long)(((int64_t)renewed + lease_ms * 1000000ll - (int64_t)now) / 1000000ll);
         if (left <= 0) { reason = "lease"; break; }
         if (wait_ms < 0 || left < wait_ms) wait_ms = left;
      }
      struct pollfd p[2] = {{STDIN_FILENO, POLLIN, 0}, {sfd, POLLIN, 0}};
      int n = poll(p, sfd >= 0 ? 2 : 1, wait_ms < 0 ? -1 : (int)(wait_ms + 1));
      if (n < 0) {
         if (errno == EINTR) continue;
         reason = "poll-error";
         break;
      }
      if (n == 0) continue; /* a timer is due: the checks above decide */
      if (sfd >= 0 && p[1].revents) {
         reason = "signal";
         break;
      }
      if (p[0].revents) {
         ssize_t got = read(STDIN_FILENO, line + used, sizeof line - 1 - used);
         if (got <= 0) { reason = "eof"; break; }
         used += (size_t)got;
         line[used] = 0;
         char *nl;
         int thaw = 0;
         while ((nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            if (!strcmp(line, "thaw")) thaw = 1;
            else if (!strcmp(line, "renew")) renewed = vmt_monotonic_ns();
            size_t rest = used - (size_t)(nl + 1 - line);
            memmove(line, nl + 1, rest);
            used = rest;
            line[used] = 0;
         }
         if (used >= sizeof line - 1) used = 0; /* garbage: drop it */
         if (thaw) { reason = "command"; break; }
      }
   }
   int first_err = 0;
   int failures = vmt_thaw_set(&set, &first_err);
   out("thawed %d %d %llu %s\n", failures, first_err, (unsigned long long)set.last_thaw_ns, reason);
   return failures ? 2 : 0;
}
