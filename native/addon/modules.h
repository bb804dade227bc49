// modules.h -- the addon's parts beyond the channel layer.
//
// Each service that needs a syscall Node lacks owns one file here that adds
// its functions to the addon's exports; addon.cc calls every Register* once,
// after the channel surface is defined. Keep each part thin: validation and
// defaults live in src/native/index.ts, errors use the shared MakeError path
// (a stable `code`), and only blocking work (freeze, PAM) leaves the JS thread.
#pragma once

#include <napi.h>

namespace vmt_addon {

// native/addon/clock.cc: adjtimex / clock_gettime / clock_settime (time sync).
void RegisterClock(Napi::Env env, Napi::Object exports);
// native/addon/freeze.cc: FIFREEZE/FITHAW and the thaw watchdog (quiesce).
void RegisterFreeze(Napi::Env env, Napi::Object exports);
// native/addon/auth.cc: PAM authentication on a worker thread (guest ops).
void RegisterAuth(Napi::Env env, Napi::Object exports);

}  // namespace vmt_addon
