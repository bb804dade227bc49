/*
 * fsfreeze.h -- FIFREEZE/FITHAW over a list of mount points
 * (quiesce.md §4.2; open-vm-tools lib/syncDriver/syncDriverLinux.c).
 *
 * Plain C shared by the freeze holder process (freeze-holder.c), which is
 * the only thing that freezes in the daemon, and by the addon
 * (native/addon/freeze.cc), which only inspects targets. The list arrives
 * already ordered (reverse mount-table order, §4.1); thaw goes in reverse of
 * the freeze order. A partial freeze is rolled back before returning.
 */
#ifndef VMTOOLS_FSFREEZE_H
#define VMTOOLS_FSFREEZE_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* quiesce.md §4.2: _IOWR('X', 119/120, int) */
#define VMT_FIFREEZE 0xC0045877u
#define VMT_FITHAW   0xC0045878u
/* Documentation/admin-guide/devices.txt: block major 7 = loop devices */
#define VMT_LOOP_MAJOR 7u

typedef enum vmt_freeze_result {
   VMT_FREEZE_OK = 0,
   VMT_FREEZE_ERROR,        /* an open/ioctl failed: everything rolled back */
   VMT_FREEZE_UNAVAILABLE,  /* first FIFREEZE gave ENOTTY: no FIFREEZE here (§4.2) */
   VMT_FREEZE_REFUSED,      /* the loop-only guard refused a target; nothing frozen */
   VMT_FREEZE_EMPTY         /* nothing left to freeze after the skips */
} vmt_freeze_result;

typedef struct vmt_target_info {
   unsigned dev_major, dev_minor;
   int is_dir;
   int is_mount_root;  /* st_dev differs from "..", or "/" itself */
   int is_loop;        /* dev_major == VMT_LOOP_MAJOR */
} vmt_target_info;

/* fstat/fstatat("..") of an open directory fd. 0 or -errno. */
int vmt_target_inspect_fd(int fd, vmt_target_info *out);
/* Same by path (opens it O_RDONLY|O_DIRECTORY). 0 or -errno. */
int vmt_target_inspect(const char *path, vmt_target_info *out);

typedef struct vmt_frozen {
   int fd;
   int index;       /* index of the path in the caller's list */
} vmt_frozen;

typedef struct vmt_freeze_set {
   vmt_frozen *items;
   int count;
   int cap;
   /* CLOCK_MONOTONIC ns of the first FIFREEZE issued / last FITHAW done (benchmark). */
   uint64_t first_freeze_ns, last_thaw_ns;
} vmt_freeze_set;

/* Why a path was skipped or failed, for the caller's log. */
typedef void (*vmt_freeze_note_fn)(void *ctx, int index, const char *what, int err);

/*
 * Freezes paths[0..n) in order. loop_only: refuse (before freezing anything)
 * any target that is not the root of a mount on a loop device -- the
 * simulator's guard. ignore_frozen: EBUSY from a file system frozen by
 * someone else is skipped instead of failing (ignoreFrozenFileSystems).
 * On anything but VMT_FREEZE_OK nothing is left frozen and *err_out holds
 * the errno and *err_index the path's index (-1 if none).
 */
vmt_freeze_result vmt_freeze_paths(const char *const *paths, int n, int loop_only,
                                   int ignore_frozen, vmt_freeze_set *set,
                                   int *err_out, int *err_index,
                                   vmt_freeze_note_fn note, void *ctx);

/* FITHAW in reverse freeze order, continuing past failures; closes the fds.
 * Returns how many FITHAW calls failed (first failure's errno in *first_err). */
int vmt_thaw_set(vmt_freeze_set *set, int *first_err);

uint64_t vmt_monotonic_ns(void);

#ifdef __cplusplus
}
#endif

#endif
