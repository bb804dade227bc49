// auth.cc -- addon functions for guest operations (issue 7). Empty until that service lands.
#include "addon/modules.h"

namespace vmt_addon {

void RegisterAuth(Napi::Env env, Napi::Object exports) {
  (void)env;
  (void)exports;
}

}  // namespace vmt_addon
