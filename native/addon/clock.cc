// clock.cc -- addon functions for time sync (issue 5). Empty until that service lands.
#include "addon/modules.h"

namespace vmt_addon {

void RegisterClock(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace vmt_addon
