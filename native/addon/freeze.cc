// freeze.cc -- addon functions for quiesce (issue 6).
//
// The addon never freezes: FIFREEZE/FITHAW run in the freeze holder process
// (native/system/freeze-holder.c), off the event loop and outside the
// daemon, so a dead or hung daemon cannot leave a file system frozen. What
// the daemon needs here is the synchronous target check behind the
// simulator-mode guard: "is this path the root of a mount on a loop device".
#include <cerrno>
#include <cstring>

#include "addon/modules.h"

extern "C" {
#include "system/fsfreeze.h"
}

namespace vmt_addon {

namespace {

Napi::Value InspectFreezeTarget(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  vmt_target_info t;
  int rc = vmt_target_inspect(path.c_str(), &t);
  if (rc != 0) {
    Napi::Error e = Napi::Error::New(env, std::string("inspect ") + path + ": " + strerror(-rc));
    e.Set("code", Napi::String::New(env, "FREEZE_TARGET"));
    e.Set("errno", Napi::Number::New(env, -rc));
    throw e;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("major", Napi::Number::New(env, t.dev_major));
  o.Set("minor", Napi::Number::New(env, t.dev_minor));
  o.Set("isDirectory", Napi::Boolean::New(env, t.is_dir != 0));
  o.Set("isMountRoot", Napi::Boolean::New(env, t.is_mount_root != 0));
  o.Set("isLoop", Napi::Boolean::New(env, t.is_loop != 0));
  return o;
}

}  // namespace

void RegisterFreeze(Napi::Env env, Napi::Object exports) {
  exports.Set("inspectFreezeTarget", Napi::Function::New(env, InspectFreezeTarget, "inspectFreezeTarget"));
}

}  // namespace vmt_addon
