// freeze.cc -- addon functions for quiesce (issue 6). Empty until that service lands.
#include "addon/modules.h"

namespace vmt_addon {

void RegisterFreeze(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace vmt_addon
