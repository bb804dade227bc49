/*
 * vmtoolsd trap shim: lets a process that executes VMware backdoor
 * instructions run on a machine that is not VMware, against the VMX simulator.
 *
 * Preload it (LD_PRELOAD) into the process under test and point
 * VMTOOLSD_SIM_SOCKET at the simulator's trap socket. The wire protocol and
 * every environment variable are described in docs/simulator-protocol.md.
 *
 * Why a signal handler: outside VMware, `in eax,dx` / `rep insb` / `rep outsb`
 * from ring 3 raise #GP (the TSS I/O bitmap denies the port), which the
 * kernel delivers as SIGSEGV with si_code SI_KERNEL (channel.md §2.5). The
 * handler sees the saved registers, so it can do what the VMX would do and
 * step RIP past the instruction.
 *
 * Why interpose sigaction()/signal(): Node (V8's WebAssembly trap handler) and
 * open-vm-tools' vmware-rpctool install SIGSEGV handlers of their own. The
 * shim keeps its handler installed in the kernel, records the program's
 * handler instead, and calls it for every fault that is not a backdoor call.
 * The program sees its own handler when it asks, as if the shim were absent.
 *
 * Why patch cpuid: open-vm-tools refuses to run unless CPUID leaf 0x40000000
 * says "VMwareVMware". This CPU cannot make CPUID fault (ARCH_SET_CPUID gives
 * ENODEV), so for the objects named in VMTOOLSD_SIM_CPUID_PATCH the shim
 * rewrites each `cpuid` (0F A2) into `ud2` (0F 0B) at start-up and emulates
 * it on SIGILL, answering the hypervisor leaves as VMware would.
 *
 * Everything that runs in the handler is async-signal-safe: raw socket I/O,
 * fstat, getpid, sigprocmask. Payloads are copied with send()/recv() straight
 * from and to the guest buffer, so a bad pointer gives EFAULT, not a second
 * fault inside the handler.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <ucontext.h>
#include <unistd.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

/* channel.md §2.1 (backdoor_def.h) */
#define BDOOR_MAGIC 0x564D5868u
#define BDOOR_PORT 0x5658u
#define BDOORHB_PORT 0x5659u

/* docs/simulator-protocol.md */
#define FRAME_MAGIC 0x4D495356u /* "VSIM" */
#define FRAME_HEADER 76
#define KIND_LB 1
#define KIND_HB_OUT 2
#define KIND_HB_IN 3
#define ACTION_HANDLED 0
/* Largest HB transfer the shim forwards. The host limit for guest->host is
 * 64 KiB (channel.md §3.3); host->guest has no protocol limit, so leave room. */
#define MAX_TRANSFER (64u << 20)
/* A simulator that stops answering must not hang the process under test. */
#define IO_TIMEOUT_SEC 20

#define MAX_PATCHED 4096

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static sigaction_fn real_sigaction;

/* Signals whose kernel disposition the shim owns, and the program's own view. */
static volatile sig_atomic_t owned[NSIG];
static struct sigaction app_action[NSIG];

static char sim_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static int sim_fd = -1;
static pid_t sim_pid;
static dev_t sim_dev;
static ino_t sim_ino;
static int io_lock;

static uintptr_t patched[MAX_PATCHED];
static int n_patched;

static void init_real(void)
{
   if (!real_sigaction) {
      real_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
   }
}

/* ---------------------------------------------------------------------------
 * Simulator connection (one per process, serialised across threads)
 */

static void lock_io(void)
{
   while (__atomic_exchange_n(&io_lock, 1, __ATOMIC_ACQUIRE)) {
      syscall(SYS_sched_yield);
   }
}

static void unlock_io(void)
{
   __atomic_store_n(&io_lock, 0, __ATOMIC_RELEASE);
}

static void drop_connection(void)
{
   if (sim_fd >= 0) {
      close(sim_fd);
   }
   sim_fd = -1;
}

/* Returns a connected fd, or -1 when there is no simulator to talk to. */
static int sim_connection(void)
{
   pid_t pid = (pid_t)syscall(SYS_getpid);

   if (sim_fd >= 0 && sim_pid != pid) {
      /* After fork the child holds a copy of the parent's stream; sharing it
       * would interleave frames. Close the copy and make our own. */
      drop_connection();
   }
   if (sim_fd >= 0) {
      struct stat st;
      /* The program may have closed our fd (daemons close all fds at start)
       * and reused the number: never write frames into someone else's file. */
      if (fstat(sim_fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
          st.st_dev != sim_dev || st.st_ino != sim_ino) {
         sim_fd = -1;
      }
   }
   if (sim_fd >= 0 || sim_path[0] == '\0') {
      return sim_fd;
   }

   int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
   if (fd < 0) {
      return -1;
   }
   struct sockaddr_un addr;
   memset(&addr, 0, sizeof addr);
   addr.sun_family = AF_UNIX;
   memcpy(addr.sun_path, sim_path, sizeof addr.sun_path);
   if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
      close(fd);
      return -1;
   }
   /* Keep it out of the low fd numbers programs like to reuse. */
   int high = fcntl(fd, F_DUPFD_CLOEXEC, 512);
   if (high >= 0) {
      close(fd);
      fd = high;
   }
   struct timeval tv = { IO_TIMEOUT_SEC, 0 };
   setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
   setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

   struct stat st;
   if (fstat(fd, &st) != 0) {
      close(fd);
      return -1;
   }
   sim_dev = st.st_dev;
   sim_ino = st.st_ino;
   sim_pid = pid;
   sim_fd = fd;
   return fd;
}

static int send_all(int fd, const void *buf, size_t len)
{
   const uint8_t *p = buf;
   while (len > 0) {
      ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) {
         continue;
      }
      if (n <= 0) {
         return -1;
      }
      p += n;
      len -= (size_t)n;
   }
   return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
   uint8_t *p = buf;
   while (len > 0) {
      ssize_t n = recv(fd, p, len, 0);
      if (n < 0 && errno == EINTR) {
         continue;
      }
      if (n <= 0) {
         return -1;
      }
      p += n;
      len -= (size_t)n;
   }
   return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
   memcpy(p, &v, 4); /* x86-64 is little-endian, as the frame is */
}

static uint32_t get32(const uint8_t *p)
{
   uint32_t v;
   memcpy(&v, p, 4);
   return v;
}

/* Order of the seven registers in a frame (docs/simulator-protocol.md). */
static const int frame_regs[7] = {
   REG_RAX, REG_RBX, REG_RCX, REG_RDX, REG_RSI, REG_RDI, REG_RBP
};

/*
 * One round trip with the simulator. Returns 1 when the registers (and, for
 * HB in, the guest buffer) were updated, 0 when the fault must go to the
 * program as it would on bare metal.
 */
static int forward_trap(greg_t *g, int kind)
{
   uint8_t hdr[FRAME_HEADER];
   uint64_t count = (uint64_t)g[REG_RCX];
   uint32_t out_len = kind == KIND_HB_OUT ? (uint32_t)count : 0;
   int fd, handled = 0;

   if ((kind == KIND_HB_OUT || kind == KIND_HB_IN) && count > MAX_TRANSFER) {
      return 0;
   }

   memset(hdr, 0, sizeof hdr);
   put32(hdr, FRAME_MAGIC);
   put32(hdr + 4, (uint32_t)kind);
   put32(hdr + 8, (uint32_t)syscall(SYS_getpid));
   put32(hdr + 12, (uint32_t)syscall(SYS_gettid));
   for (int i = 0; i < 7; i++) {
      uint64_t v = (uint64_t)g[frame_regs[i]];
      memcpy(hdr + 16 + 8 * i, &v, 8);
   }
   put32(hdr + 72, out_len);

   lock_io();
   fd = sim_connection();
   if (fd >= 0 && send_all(fd, hdr, sizeof hdr) != 0) {
      /* The simulator restarted since the last trap (tests restart it on
       * the same path): nothing of this frame was taken, so reconnect once. */
      drop_connection();
      fd = sim_connection();
      if (fd >= 0 && send_all(fd, hdr, sizeof hdr) != 0) {
         drop_connection();
         fd = -1;
      }
   }
   if (fd < 0) {
      goto out;
   }
   if (out_len > 0 && send_all(fd, (const void *)g[REG_RSI], out_len) != 0) {
      /* A short frame desynchronises the stream: start over next time. */
      drop_connection();
      goto out;
   }
   if (recv_all(fd, hdr, sizeof hdr) != 0 || get32(hdr) != FRAME_MAGIC) {
      drop_connection();
      goto out;
   }
   uint32_t action = get32(hdr + 4);
   uint32_t in_len = get32(hdr + 72);
   if (in_len > 0) {
      if (kind != KIND_HB_IN || in_len > count ||
          recv_all(fd, (void *)g[REG_RDI], in_len) != 0) {
         drop_connection();
         goto out;
      }
   }
   if (action == ACTION_HANDLED) {
      for (int i = 0; i < 7; i++) {
         uint64_t v;
         memcpy(&v, hdr + 16 + 8 * i, 8);
         g[frame_regs[i]] = (greg_t)v;
      }
      handled = 1;
   }
out:
   unlock_io();
   return handled;
}

/* Decodes the faulting instruction; forwards it if it is a backdoor call. */
static int handle_backdoor(ucontext_t *uc)
{
   greg_t *g = uc->uc_mcontext.gregs;
   const uint8_t *ip = (const uint8_t *)g[REG_RIP];
   uint32_t eax = (uint32_t)g[REG_RAX];
   uint16_t port = (uint16_t)g[REG_RDX];
   int kind, len;

   if (ip[0] == 0xED) {                        /* in eax, dx */
      kind = KIND_LB, len = 1;
   } else if (ip[0] == 0xF3 && ip[1] == 0x6E) { /* rep outsb */
      kind = KIND_HB_OUT, len = 2;
   } else if (ip[0] == 0xF3 && ip[1] == 0x6C) { /* rep insb */
      kind = KIND_HB_IN, len = 2;
   } else {
      return 0;
   }
   if (eax != BDOOR_MAGIC || port != (kind == KIND_LB ? BDOOR_PORT : BDOORHB_PORT)) {
      return 0;
   }
   if (!forward_trap(g, kind)) {
      return 0;
   }
   g[REG_RIP] += len;
   return 1;
}

/* ---------------------------------------------------------------------------
 * Software CPUID faulting
 */

static int is_patched(uintptr_t addr)
{
   int lo = 0, hi = n_patched - 1;
   while (lo <= hi) {
      int mid = (lo + hi) / 2;
      if (patched[mid] == addr) {
         return 1;
      }
      if (patched[mid] < addr) {
         lo = mid + 1;
      } else {
         hi = mid - 1;
      }
   }
   return 0;
}

static int handle_cpuid(ucontext_t *uc)
{
   greg_t *g = uc->uc_mcontext.gregs;
   uintptr_t ip = (uintptr_t)g[REG_RIP];
   unsigned a, b, c, d;
   uint32_t leaf = (uint32_t)g[REG_RAX];
   uint32_t sub = (uint32_t)g[REG_RCX];

   if (!is_patched(ip)) {
      return 0;
   }
   __cpuid_count(leaf, sub, a, b, c, d);
   if (leaf == 1) {
      c |= 1u << 31;                 /* hypervisor present (channel.md §1 step 1) */
   } else if (leaf == 0x40000000) {
      a = 0x40000010;                /* highest hypervisor leaf */
      b = 0x61774D56;                /* "VMwa" */
      c = 0x4D566572;                /* "reVM" */
      d = 0x65726177;                /* "ware" */
   } else if (leaf == 0x40000010) {
      /* Keep the timing values, but advertise neither VMCALL nor VMMCALL
       * (ECX bits 1/0, channel.md §2.4): the simulator serves I/O ports. */
      c = 0;
      d = 0;
   } else if (leaf > 0x40000000 && leaf < 0x40000100) {
      a = b = c = d = 0;             /* hide the real hypervisor's leaves */
   }
   /* cpuid writes 32-bit registers, which zero-extends into 64 bits. */
   g[REG_RAX] = (greg_t)(uint64_t)a;
   g[REG_RBX] = (greg_t)(uint64_t)b;
   g[REG_RCX] = (greg_t)(uint64_t)c;
   g[REG_RDX] = (greg_t)(uint64_t)d;
   g[REG_RIP] += 2;
   return 1;
}

struct patch_ctx {
   const char *list;
   const char *exe;
};

static int name_listed(const char *list, const char *name)
{
   size_t n = strlen(name);
   const char *p = list;
   while (*p) {
      const char *end = strchr(p, ',');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      if (len == n && memcmp(p, name, n) == 0) {
         return 1;
      }
      if (!end) {
         break;
      }
      p = end + 1;
   }
   return 0;
}

static int patch_object(struct dl_phdr_info *info, size_t size, void *data)
{
   struct patch_ctx *ctx = data;
   const char *name = info->dlpi_name;
   if (!name || !*name) {
      name = ctx->exe;
   }
   const char *base = strrchr(name, '/');
   base = base ? base + 1 : name;
   if (!name_listed(ctx->list, base)) {
      return 0;
   }
   long page = sysconf(_SC_PAGESIZE);
   for (int i = 0; i < info->dlpi_phnum; i++) {
      const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
      if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) {
         continue;
      }
      uint8_t *start = (uint8_t *)(info->dlpi_addr + ph->p_vaddr);
      size_t len = ph->p_memsz;
      uintptr_t pstart = (uintptr_t)start & ~(uintptr_t)(page - 1);
      size_t plen = ((uintptr_t)start + len - pstart + page - 1) & ~(uintptr_t)(page - 1);
      if (mprotect((void *)pstart, plen, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
         continue;
      }
      for (size_t j = 0; j + 1 < len && n_patched < MAX_PATCHED; j++) {
         if (start[j] == 0x0F && start[j + 1] == 0xA2) {
            start[j + 1] = 0x0B;
            patched[n_patched++] = (uintptr_t)(start + j);
            j++;
         }
      }
      mprotect((void *)pstart, plen, PROT_READ | PROT_EXEC);
   }
   return 0;
}

static void patch_cpuid(const char *list)
{
   static char exe[4096];
   ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
   exe[n > 0 ? n : 0] = '\0';
   struct patch_ctx ctx = { list, exe };
   dl_iterate_phdr(patch_object, &ctx);
   /* Objects are visited in load order, not address order: sort for lookup. */
   for (int i = 1; i < n_patched; i++) {
      uintptr_t v = patched[i];
      int j = i - 1;
      while (j >= 0 && patched[j] > v) {
         patched[j + 1] = patched[j];
         j--;
      }
      patched[j + 1] = v;
   }
}

/* ---------------------------------------------------------------------------
 * Signal handling and chaining to the program's handler
 */

/* Hand the fault to the program's handler the way the kernel would have. */
static void chain(int sig, siginfo_t *si, void *ctx)
{
   struct sigaction app = app_action[sig];

   if (!(app.sa_flags & SA_SIGINFO) &&
       (app.sa_handler == SIG_DFL || app.sa_handler == SIG_IGN)) {
      /* Default action: give the signal back to the kernel. A fault
       * re-executes the instruction and dies with the usual core dump; a
       * signal sent by kill() is re-raised and delivered on return. */
      struct sigaction dfl;
      memset(&dfl, 0, sizeof dfl);
      dfl.sa_handler = SIG_DFL;
      real_sigaction(sig, &dfl, NULL);
      owned[sig] = 0;
      if (si->si_code <= 0) {
         raise(sig);
      }
      return;
   }

   sigset_t mask = ((ucontext_t *)ctx)->uc_sigmask;
   sigorset(&mask, &mask, &app.sa_mask);
   if (!(app.sa_flags & SA_NODEFER)) {
      sigaddset(&mask, sig);
   }
   if (app.sa_flags & SA_RESETHAND) {
      memset(&app_action[sig], 0, sizeof app_action[sig]);
      app_action[sig].sa_handler = SIG_DFL;
   }
   sigprocmask(SIG_SETMASK, &mask, NULL);
   if (app.sa_flags & SA_SIGINFO) {
      app.sa_sigaction(sig, si, ctx);
   } else {
      app.sa_handler(sig);
   }
}

static void trap_handler(int sig, siginfo_t *si, void *ctx)
{
   int saved_errno = errno;
   int handled = 0;

   if (sig == SIGSEGV && si->si_code == SI_KERNEL) {
      handled = handle_backdoor(ctx);
   } else if (sig == SIGILL && si->si_code == ILL_ILLOPN) {
      handled = handle_cpuid(ctx);
   }
   errno = saved_errno;
   if (!handled) {
      chain(sig, si, ctx);
   }
}

static void take_signal(int sig)
{
   struct sigaction sa;
   memset(&sa, 0, sizeof sa);
   sa.sa_sigaction = trap_handler;
   /* SA_ONSTACK: a program that set up an alternate stack for stack
    * overflows still gets its handler run there. */
   sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
   sigfillset(&sa.sa_mask);
   if (real_sigaction(sig, &sa, &app_action[sig]) == 0) {
      owned[sig] = 1;
   }
}

SHIM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
   init_real();
   if (sig > 0 && sig < NSIG && owned[sig]) {
      struct sigaction prev = app_action[sig];
      if (act) {
         app_action[sig] = *act;
      }
      if (oact) {
         *oact = prev;
      }
      return 0;
   }
   return real_sigaction(sig, act, oact);
}

/* glibc's signal() calls its internal __sigaction, which the interposed
 * sigaction() above would not see. BSD semantics, as glibc's signal(). */
SHIM_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
   struct sigaction sa, old;
   memset(&sa, 0, sizeof sa);
   sa.sa_handler = handler;
   sa.sa_flags = SA_RESTART;
   sigemptyset(&sa.sa_mask);
   if (sigaction(sig, &sa, &old) != 0) {
      return SIG_ERR;
   }
   return old.sa_handler;
}

/* Exposed for tests: how many cpuid instructions were rewritten. */
SHIM_EXPORT int vmtoolsd_shim_patched_cpuid_count(void)
{
   return n_patched;
}

__attribute__((constructor)) static void shim_init(void)
{
   init_real();
   const char *path = getenv("VMTOOLSD_SIM_SOCKET");
   if (!real_sigaction || !path || !*path || strlen(path) >= sizeof sim_path) {
      return; /* inert: behave as if not preloaded */
   }
   memcpy(sim_path, path, strlen(path) + 1);
   take_signal(SIGSEGV);

   const char *list = getenv("VMTOOLSD_SIM_CPUID_PATCH");
   if (list && *list) {
      patch_cpuid(list);
      if (n_patched > 0) {
         take_signal(SIGILL);
      }
   }
}
