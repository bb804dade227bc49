/*
 * Benchmark client built on open-vm-tools' own RPC code: it loads Debian's
 * libvmtools.so.0 (unpacked by scripts/setup.sh into .cache/ovt) and sends
 * one request N times over one open RPCI channel with RpcOut_send(), as
 * vmtoolsd does for its main channel (channel.md §4.3). Run it with the trap
 * shim preloaded against the simulator; it prints the µs per RPC.
 *
 *   ovt-rpcout LIBVMTOOLS COUNT REQUEST
 *
 * Nothing of open-vm-tools is compiled in: the library is Debian's binary.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef char Bool;
typedef void *(*construct_fn)(void);
typedef Bool (*start_fn)(void *);
/* 12.x signature: RpcOut_send(out, request, reqLen, &rpcStatus, &reply, &repLen)
 * (open-vm-tools lib/include/rpcout.h). */
typedef Bool (*send_fn)(void *, const char *, size_t, Bool *, const char **, size_t *);
typedef Bool (*stop_fn)(void *);

static double now_us(void)
{
   struct timespec ts;
   clock_gettime(CLOCK_MONOTONIC, &ts);
   return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
   if (argc != 4) {
      fprintf(stderr, "usage: %s LIBVMTOOLS COUNT REQUEST\n", argv[0]);
      return 2;
   }
   void *lib = dlopen(argv[1], RTLD_NOW);
   if (!lib) {
      fprintf(stderr, "dlopen: %s\n", dlerror());
      return 2;
   }
   construct_fn construct = (construct_fn)dlsym(lib, "RpcOut_Construct");
   start_fn start = (start_fn)dlsym(lib, "RpcOut_start");
   send_fn send = (send_fn)dlsym(lib, "RpcOut_send");
   stop_fn stop = (stop_fn)dlsym(lib, "RpcOut_stop");
   if (!construct || !start || !send || !stop) {
      fprintf(stderr, "libvmtools lacks the RpcOut functions\n");
      return 2;
   }
   long count = strtol(argv[2], NULL, 10);
   const char *req = argv[3];
   size_t len = strlen(req);

   void *out = construct();
   if (!start(out)) {
      fprintf(stderr, "RpcOut_start failed\n");
      return 1;
   }
   double t0 = now_us();
   long ok = 0;
   for (long i = 0; i < count; i++) {
      Bool status = 0;
      const char *reply = NULL;
      size_t replen = 0;
      if (send(out, req, len, &status, &reply, &replen) && status) {
         ok++;
      }
   }
   double t1 = now_us();
   stop(out);
   printf("{\"count\":%ld,\"ok\":%ld,\"usPerRpc\":%.2f}\n", count, ok, (t1 - t0) / count);
   return ok == count ? 0 : 1;
}
