/*
 * fsfreeze.c -- FIFREEZE/FITHAW over a list of mount points
 * (quiesce.md §4.2). See fsfreeze.h.
 */
#define _GNU_SOURCE
#include "system/fsfreeze.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

uint64_t vmt_monotonic_ns(void) {
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vmt_target_inspect_fd(int fd, vmt_target_info *out) {
   struct stat st, parent;
   memset(out, 0, sizeof *out);
   if (fstat(fd, &st) != 0) return -errno;
   out->dev_major = major(st.st_dev);
   out->dev_minor = minor(st.st_dev);
   out->is_dir = S_ISDIR(st.st_mode);
   out->is_loop = out->dev_major == VMT_LOOP_MAJOR;
   if (!out->is_dir) return 0;
   if (fstatat(fd, "..", &parent, 0) != 0) return -errno;
   /* A mount root sits on another device than its parent; "/" is its own parent. */
   out->is_mount_root = parent.st_dev != st.st_dev ||
                        (parent.st_ino == st.st_ino && parent.st_dev == st.st_dev);
   return 0;
}

int vmt_target_inspect(const char *path, vmt_target_info *out) {
   int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
   if (fd < 0) return -errno;
   int rc = vmt_target_inspect_fd(fd, out);
   close(fd);
   return rc;
}

static int set_push(vmt_freeze_set *set, int fd, int index) {
   if (set->count == set->cap) {
      int cap = set->cap ? set->cap * 2 : 8;
      vmt_frozen *n = realloc(set->items, (size_t)cap * sizeof *n);
      if (!n) return -ENOMEM;
      set->items = n;
      set->cap = cap;
   }
   set->items[set->count].fd = fd;
   set->items[set->count].index = index;
   set->count++;
   return 0;
}

static void note(vmt_freeze_note_fn fn, void *ctx, int index, const char *what, int err) {
   if (fn) fn(ctx, index, what, err);
}

static int same_fsid(const fsid_t *a, const fsid_t *b) {
   return memcmp(a, b, sizeof *a) == 0;
}

vmt_freeze_result vmt_freeze_paths(const char *const *paths, int n, int loop_only,
                                   int ignore_frozen, vmt_freeze_set *set,
                                   int *err_out, int *err_index,
                                   vmt_freeze_note_fn notefn, void *ctx) {
   vmt_freeze_result result = VMT_FREEZE_OK;
   int *fds = calloc((size_t)(n > 0 ? n : 1), sizeof *fds);
   fsid_t *fsids = calloc((size_t)(n > 0 ? n : 1), sizeof *fsids);
   int first = 1;
   *err_out = 0;
   *err_index = -1;
   memset(set, 0, sizeof *set);
   if (!fds || !fsids) {
      free(fds);
      free(fsids);
      *err_out = ENOMEM;
      return VMT_FREEZE_ERROR;
   }
   for (int i = 0; i < n; i++) fds[i] = -1;

   /* Pass 1: open and check every target before anything is frozen, so the
    * loop-only guard can refuse the whole set up front. */
   for (int i = 0; i < n; i++) {
      int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
         int e = errno;
         /* §4.2: stale mounts, docker bind files, HGFS: skipped */
         if (e == ENOENT || e == EACCES || e == ENXIO || e == EIO) {
            note(notefn, ctx, i, "skip-open", e);
            continue;
         }
         *err_out = e;
         *err_index = i;
         result = VMT_FREEZE_ERROR;
         goto out;
      }
      vmt_target_info info;
      int rc = vmt_target_inspect_fd(fd, &info);
      if (rc != 0 && rc != -ENOENT) {
         close(fd);
         *err_out = -rc;
         *err_index = i;
         result = VMT_FREEZE_ERROR;
         goto out;
      }
      if (!info.is_dir) { /* a bind-mounted file */
         close(fd);
         note(notefn, ctx, i, "skip-notdir", 0);
         continue;
      }
      if (loop_only && !(info.is_loop && info.is_mount_root)) {
         close(fd);
         *err_out = EPERM;
         *err_index = i;
         result = VMT_FREEZE_REFUSED;
         goto out;
      }
      struct statfs sfs;
      if (fstatfs(fd, &sfs) == 0) fsids[i] = sfs.f_fsid;
      fds[i] = fd;
   }

   /* Pass 2: FIFREEZE in the given order (§4.2). */
   for (int i = 0; i < n; i++) {
      if (fds[i] < 0) continue;
      if (set->count == 0) set->first_freeze_ns = vmt_monotonic_ns();
      if (ioctl(fds[i], VMT_FIFREEZE) == 0) {
         int rc = set_push(set, fds[i], i);
         fds[i] = -1;
         if (rc != 0) { /* could not record it: thaw it now and fail */
            *err_out = -rc;
            *err_index = i;
            result = VMT_FREEZE_ERROR;
            break;
         }
         first = 0;
         continue;
      }
      int e = errno;
      close(fds[i]);
      fds[i] = -1;
      if (e == EBUSY) {
         int mine = 0;
         for (int k = 0; k < set->count; k++)
            if (same_fsid(&fsids[set->items[k].index], &fsids[i])) mine = 1;
         if (mine) { note(notefn, ctx, i, "skip-same-fs", e); continue; }
         if (ignore_frozen) { note(notefn, ctx, i, "skip-already-frozen", e); continue; }
         note(notefn, ctx, i, "already-frozen", e);
      }
      if (e == EOPNOTSUPP) { /* cannot be frozen: silently ignored */
         note(notefn, ctx, i, "skip-unsupported", e);
         first = 0;
         continue;
      }
      *err_out = e;
      *err_index = i;
      result = (first && e == ENOTTY) ? VMT_FREEZE_UNAVAILABLE : VMT_FREEZE_ERROR;
      break;
   }

out:
   for (int i = 0; i < n; i++)
      if (fds[i] >= 0) close(fds[i]);
   free(fds);
   free(fsids);
   if (result != VMT_FREEZE_OK) {
      int ignored;
      vmt_thaw_set(set, &ignored); /* partial freeze rolled back */
   }
   return result;
}

int vmt_thaw_set(vmt_freeze_set *set, int *first_err) {
   int failures = 0;
   *first_err = 0;
   for (int k = set->count - 1; k >= 0; k--) {
      if (ioctl(set->items[k].fd, VMT_FITHAW) != 0) {
         if (!failures) *first_err = errno;
         failures++;
      }
   }
   if (set->count > 0) set->last_thaw_ns = vmt_monotonic_ns();
   for (int k = set->count - 1; k >= 0; k--) close(set->items[k].fd);
   free(set->items);
   set->items = NULL;
   set->count = set->cap = 0;
   return failures;
}
