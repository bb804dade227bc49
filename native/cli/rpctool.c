/*
 * vmware-rpctool -- drop-in for open-vm-tools 12.2's rpctool/rpctool.c
 * (Debian bookworm): send one RPCI command over the backdoor, one-shot, and
 * print the result. Outputs and exit codes follow the 12.2.0 source and the
 * Debian binary exactly, quirks included:
 *
 *   not VMware         stderr "Error: <argv0> must be run inside a virtual
 *                      machine on a VMware hypervisor product.\n", exit 255
 *                      (checked before the arguments, as in 12.2)
 *   no argument        usage on stderr, exit 1
 *   "-h..."/"--help..." usage on stderr, exit 0 (12.2 compares prefixes)
 *   "1 <result>"       "<result>\n" on stdout (up to its first NUL), exit 0
 *   "0 <result>"       "<result>\n" on stderr, exit 1
 *   transport failure  the RpcOut string of channel.md §4.2 on stderr, or
 *                      "NULL" when open or close failed, exit 1
 *   backdoor faults    "Failed sending message to VMware.\n", exit 1
 *
 * VMTOOLSD_ASSUME_VMWARE=1 skips the CPUID vendor check (see backdoor.h).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "backdoor/backdoor.h"
#include "backdoor/rpcout.h"

#define NOT_VMWARE_ERROR "Failed sending message to VMware.\n"

static struct sigaction g_old_segv;

static void print_usage(void)
{
   fprintf(stderr, "rpctool syntax:\n\n");
   fprintf(stderr, "  -h | --help\tprint usage.\n");
   fprintf(stderr, "  rpctool <text>\tsend <text> as an RPC command.\n");
}

/* A backdoor instruction that faults after detection said yes (the host
 * went away, the simulator declined): report it like open-vm-tools. */
static void segv_handler(int sig, siginfo_t *si, void *data)
{
   ucontext_t *uc = data;
   uint32_t magic = (uint32_t)uc->uc_mcontext.gregs[REG_RAX];
   uint16_t port = (uint16_t)uc->uc_mcontext.gregs[REG_RDX];

   (void)si;
   if (magic == BDOOR_MAGIC && (port == BDOORHB_PORT || port == BDOOR_PORT)) {
      fprintf(stderr, NOT_VMWARE_ERROR);
      exit(1);
   }
   sigaction(sig, &g_old_segv, NULL);
   raise(sig);
}

static int set_segv_handler(void)
{
   struct sigaction sa;
   memset(&sa, 0, sizeof sa);
   sa.sa_sigaction = segv_handler;
   sa.sa_flags = SA_SIGINFO;
   sigfillset(&sa.sa_mask);      /* block everything while handling */
   return sigaction(SIGSEGV, &sa, &g_old_segv) == 0;
}

static int rpctool_command(const char *text)
{
   rpcout_result res;
   vmt_error err;

   /* RpcOut_sendOne("%s", text): the bytes of text, no NUL; the space it
    * means to append for argument-less commands is never sent (§4.1). */
   vmt_status st = rpcout_send_one((const uint8_t *)text, strlen(text), 0, &res, &err);
   if (st != VMT_OK) {
      const char *msg = rpcout_stage_text(res.failed);
      fprintf(stderr, "%s\n", msg != NULL ? msg : "NULL");
      return 1;
   }
   /* The message layer NUL-terminates, so %s stops at the first NUL. */
   if (res.ok) {
      printf("%s\n", (const char *)res.reply);
   } else {
      fprintf(stderr, "%s\n", (const char *)res.reply);
   }
   free(res.owned);
   return res.ok ? 0 : 1;
}

int main(int argc, char *argv[])
{
   bd_detect_result det;
   int ret = 1;

   bd_detect(&det);
   if (!det.vmware) {
      fprintf(stderr, "Error: %s must be run inside a virtual machine"
                      " on a VMware hypervisor product.\n", argv[0]);
      return -1;
   }

   if (argc <= 1) {
      print_usage();
      return 1;
   }
   if (!strncmp(argv[1], "-h", 2) || !strncmp(argv[1], "--help", 6)) {
      print_usage();
      return 0;
   }

   if (set_segv_handler()) {
      ret = rpctool_command(argv[1]);
   }
   sigaction(SIGSEGV, &g_old_segv, NULL);
   return ret;
}
