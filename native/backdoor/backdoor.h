/*
 * backdoor.h -- the VMware backdoor instructions, VMware detection and the
 * process-wide call counters.
 *
 * Plain C, shared by the Node addon and vmware-rpctool. Everything here runs
 * the real instructions (channel.md §2): on VMware the hypervisor answers, on
 * any other machine the preloaded trap shim forwards the fault to the VMX
 * simulator (docs/simulator-protocol.md). Without either, an `in` from ring 3
 * raises SIGSEGV, so nothing may execute a backdoor instruction before
 * bd_available() said yes -- except the guarded probe inside bd_detect().
 */
#ifndef VMTOOLS_BACKDOOR_H
#define VMTOOLS_BACKDOOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* channel.md §2.1 (backdoor_def.h) */
#define BDOOR_MAGIC          0x564D5868u
#define BDOOR_PORT           0x5658u
#define BDOORHB_PORT         0x5659u
#define BDOORHB_CMD_MESSAGE  0u

/* channel.md §2.6 */
#define BDOOR_CMD_GETMHZ             1u
#define BDOOR_CMD_GETVERSION         10u
#define BDOOR_CMD_GETHWVERSION       17u
#define BDOOR_CMD_GETTIME            23u
#define BDOOR_CMD_STOPCATCHUP        24u
#define BDOOR_CMD_MESSAGE            30u
#define BDOOR_CMD_GETHZ              45u
#define BDOOR_CMD_GETTIMEFULL        46u
#define BDOOR_CMD_GETTIMEFULL_WITH_LAG 55u
#define BDOOR_CMD_MAX                105u

/* channel.md §1 step 5 (vm_tools_version.h VERSION_MAGIC) */
#define BDOOR_VERSION_MAGIC  6u

/* Register image of a low-bandwidth call (Backdoor_proto, channel.md §2.2). */
typedef struct bd_regs {
   uint64_t rax, rbx, rcx, rdx, rsi, rdi;
} bd_regs;

/* Register image of a high-bandwidth call (Backdoor_proto_hb, §2.3). */
typedef struct bd_hb_regs {
   uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
} bd_hb_regs;

/*
 * The raw instructions. All registers go in exactly as given and every
 * register the host may change is written back. The caller is responsible
 * for EAX = magic and DX = port; the instructions are only safe after
 * bd_available() returned 1. Each call bumps the counters below.
 */
void bd_lb_call(bd_regs *r);        /* in eax, dx          (port 0x5658) */
void bd_hb_out(bd_hb_regs *r);      /* cld; rep outsb      (port 0x5659) */
void bd_hb_in(bd_hb_regs *r);       /* cld; rep insb       (port 0x5659) */

/* ---------------------------------------------------------------------------
 * Detection (channel.md §1)
 */

typedef struct bd_detect_result {
   int vmware;              /* 1: backdoor answered GETVERSION with version 6 */
   int hypervisor_present;  /* CPUID.1:ECX[31] */
   char cpuid_vendor[13];   /* leaf 0x40000000 EBX|ECX|EDX, "" if no hypervisor */
   int overridden;          /* VMTOOLSD_ASSUME_VMWARE=1 skipped the vendor check */
   int probed;              /* the guarded backdoor probe was executed */
   int probe_faulted;       /* ... and raised SIGSEGV/SIGILL (no backdoor) */
   uint32_t backdoor_version; /* EAX of GETVERSION (0 if not probed/failed) */
   uint32_t vmx_type;       /* ECX of GETVERSION, 0 when "unset" */
} bd_detect_result;

/*
 * Runs the detection of channel.md §1 now (CPUID, then the touch and the
 * GETVERSION calls under a SIGSEGV/SIGILL guard) and caches the verdict for
 * bd_available(). Never crashes on a machine without a backdoor.
 */
void bd_detect(bd_detect_result *out);

/* The cached verdict; runs bd_detect() once on first use. Thread-safe. */
int bd_available(void);

/*
 * The real CPUID vendor says VMwareVMware. Ignores VMTOOLSD_ASSUME_VMWARE on
 * purpose: vsock connects are gated on this (see vsock.c).
 */
int bd_cpuid_is_vmware(void);

/* Reads CPUID leaf 1 ECX[31] and the 0x40000000 vendor ("" if absent). */
void bd_cpuid_vendor(int *hypervisor_present, char vendor[13]);

/* ---------------------------------------------------------------------------
 * Process-wide call counters (atomic; counted when the instruction is issued)
 */

#define BD_STATS_CMDS 128   /* LB commands 0..127 individually; rest in lb_other */
#define BD_STATS_MSG_TYPES 8 /* MESSAGE sub-types 0..6 (channel.md §3.1), 7 = other */

typedef struct bd_stats {
   uint64_t lb_total;
   uint64_t lb_by_cmd[BD_STATS_CMDS];
   uint64_t lb_other;
   uint64_t lb_message_by_type[BD_STATS_MSG_TYPES];
   uint64_t hb_out;
   uint64_t hb_in;
} bd_stats;

void bd_stats_get(bd_stats *out);
void bd_stats_reset(void);

#ifdef __cplusplus
}
#endif

#endif /* VMTOOLS_BACKDOOR_H */
