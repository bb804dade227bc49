/*
 * vmtoolsd-runas -- run one program as a guest user (guest operations, issue 7).
 *
 *   vmtoolsd-runas --user NAME [--cwd DIR] [--no-default-env] [--env K=V]...
 *                  [--status-fd N] -- PROGRAM [ARG]...
 *
 * The daemon (root) authenticates the user with PAM, then starts this helper
 * for every piece of work that must happen as that user: a program for
 * StartProgram, or a small Node worker for the file operations. The daemon
 * itself never changes its credentials (guest-ops.md §4.5 design note: a
 * setresuid in the Node process would apply to every libuv thread).
 *
 * Order matters: initgroups (supplementary groups) and setresgid while still
 * root, then setresuid; then it checks that neither root uid nor gid can be
 * regained before anything runs. Node's spawn({uid, gid}) would leave the
 * supplementary groups empty, hence this helper.
 *
 * Environment: cleared. Unless --no-default-env, HOME/USER/LOGNAME/SHELL from
 * the passwd entry and a fixed PATH; each --env K=V is added on top (with
 * --no-default-env they are exactly the environment, guest-ops.md §7.2 rule 6).
 * Working directory: --cwd, else the user's home, else "/".
 *
 * Failures before exec are reported on --status-fd (close-on-exec, so a
 * successful exec closes it with nothing written) as "<stage> <errno>\n" and
 * the exit status 127. Stages: usage, notroot, user, groups, gid, uid,
 * regain, cwd, exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_ENV 4096
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int status_fd = -1;

static void fail(const char *stage, int err) {
  if (status_fd >= 0) {
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%s %d\n", stage, err);
    if (n > 0) {
      ssize_t w = write(status_fd, buf, (size_t)n);
      (void)w;
    }
  } else {
    fprintf(stderr, "vmtoolsd-runas: %s: %s\n", stage, strerror(err));
  }
  _exit(127);
}

static int set_env(char **envp, int *n, const char *k, const char *v) {
  if (*n >= MAX_ENV) return -1;
  size_t len = strlen(k) + strlen(v) + 2;
  char *s = malloc(len);
  if (s == NULL) return -1;
  snprintf(s, len, "%s=%s", k, v);
  envp[(*n)++] = s;
  return 0;
}

int main(int argc, char **argv) {
  const char *user = NULL, *cwd = NULL;
  int default_env = 1;
  static char *extra[MAX_ENV];
  int nextra = 0;
  int i;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
      user = argv[++i];
    } else if (strcmp(argv[i], "--cwd") == 0 && i + 1 < argc) {
      cwd = argv[++i];
    } else if (strcmp(argv[i], "--env") == 0 && i + 1 < argc) {
      if (nextra >= MAX_ENV || strchr(argv[i + 1], '=') == NULL) fail("usage", EINVAL);
      extra[nextra++] = argv[++i];
    } else if (strcmp(argv[i], "--no-default-env") == 0) {
      default_env = 0;
    } else if (strcmp(argv[i], "--status-fd") == 0 && i + 1 < argc) {
      status_fd = atoi(argv[++i]);
      if (status_fd < 3 || fcntl(status_fd, F_SETFD, FD_CLOEXEC) != 0) {
        status_fd = -1;
        fail("usage", EBADF);
      }
    } else {
      fail("usage", EINVAL);
    }
  }
  if (user == NULL || i >= argc) fail("usage", EINVAL);
  char **prog = &argv[i];

  if (geteuid() != 0 || getuid() != 0) fail("notroot", EPERM);

  errno = 0;
  struct passwd *pw = getpwnam(user);
  if (pw == NULL) fail("user", errno != 0 ? errno : ENOENT);
  uid_t uid = pw->pw_uid;
  gid_t gid = pw->pw_gid;

  /* Groups first, while we may still set them. */
  if (initgroups(pw->pw_name, gid) != 0) fail("groups", errno);
  if (setresgid(gid, gid, gid) != 0) fail("gid", errno);
  if (setresuid(uid, uid, uid) != 0) fail("uid", errno);

  /* Verify: every id is the user's, and root cannot come back. */
  uid_t r, e, s;
  gid_t rg, eg, sg;
  if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid) fail("regain", EPERM);
  if (getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid) fail("regain", EPERM);
  if (uid != 0) {
    if (setuid(0) == 0 || seteuid(0) == 0) fail("regain", EPERM);
    if (gid != 0 && (setgid(0) == 0 || setegid(0) == 0)) fail("regain", EPERM);
  }

  /* Close every descriptor but stdio and the status pipe. */
  {
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (int fd = 3; fd < max; fd++) {
      if (fd != status_fd) close(fd);
    }
  }

  static char *envp[MAX_ENV + 8];
  int n = 0;
  if (default_env) {
    if (set_env(envp, &n, "HOME", pw->pw_dir) || set_env(envp, &n, "USER", pw->pw_name) ||
        set_env(envp, &n, "LOGNAME", pw->pw_name) ||
        set_env(envp, &n, "SHELL", pw->pw_shell[0] ? pw->pw_shell : "/bin/sh") ||
        set_env(envp, &n, "PATH", DEFAULT_PATH)) {
      fail("usage", ENOMEM);
    }
  }
  for (int k = 0; k < nextra; k++) envp[n++] = extra[k];
  envp[n] = NULL;

  umask(022);
  if (cwd != NULL) {
    if (chdir(cwd) != 0) fail("cwd", errno);
  } else if (chdir(pw->pw_dir) != 0 && chdir("/") != 0) {
    fail("cwd", errno);
  }

  /* A program path without '/' is looked up in the new PATH (execvpe). */
  clearenv();
  for (int k = 0; k < n; k++) putenv(envp[k]);
  execvpe(prog[0], prog, envp);
  fail("exec", errno);
  return 127;
}
