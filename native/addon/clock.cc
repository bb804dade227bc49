// clock.cc -- addon functions for time sync (core-services.md §7.3-7.5):
// clockGetTime, clockSetTime and adjtimex, over native/system/sysclock.c.
//
// Thin: src/native/index.ts validates every argument (modes, ranges) and
// wraps failures as ClockError; here a failure is an Error with code 'IO',
// `errno` and `syscall`.
#include "addon/modules.h"

#include <cstdint>

#include "system/sysclock.h"

namespace vmt_addon {
namespace {

Napi::Error ClockFailure(Napi::Env env, const vmt_error &e, const char *syscall) {
  Napi::Error err = Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, "IO"));
  err.Set("errno", Napi::Number::New(env, e.sys_errno));
  err.Set("syscall", Napi::String::New(env, syscall));
  return err;
}

int64_t Int64Field(const Napi::Object &o, const char *name) {
  Napi::Value v = o.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
}

// clockGetTime(id) -> [sec, nsec]; id 0 = CLOCK_REALTIME, 1 = CLOCK_MONOTONIC.
Napi::Value ClockGetTime(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  sysclock_id id = info[0].As<Napi::Number>().Int32Value() == 1 ? SYSCLOCK_MONOTONIC : SYSCLOCK_REALTIME;
  int64_t sec, nsec;
  vmt_error err;
  if (sysclock_gettime(id, &sec, &nsec, &err) != VMT_OK) throw ClockFailure(env, err, "clock_gettime");
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(sec)));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(nsec)));
  return out;
}

// clockSetTime(sec, nsec): clock_settime(CLOCK_REALTIME).
void ClockSetTime(const Napi::CallbackInfo &info) {
  int64_t sec = info[0].As<Napi::Number>().Int64Value();
  int64_t nsec = info[1].As<Napi::Number>().Int64Value();
  vmt_error err;
  if (sysclock_settime(sec, nsec, &err) != VMT_OK) throw ClockFailure(info.Env(), err, "clock_settime");
}

// adjtimex({modes, offset, freq, maxerror, esterror, status, constant, tick})
// -> the kernel's state after the call (every field, plus `state`).
Napi::Value Adjtimex(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object in = info[0].As<Napi::Object>();
  sysclock_timex tx{};
  tx.modes = static_cast<uint32_t>(Int64Field(in, "modes"));
  tx.offset = Int64Field(in, "offset");
  tx.freq = Int64Field(in, "freq");
  tx.maxerror = Int64Field(in, "maxerror");
  tx.esterror = Int64Field(in, "esterror");
  tx.status = static_cast<int32_t>(Int64Field(in, "status"));
  tx.constant = Int64Field(in, "constant");
  tx.tick = Int64Field(in, "tick");
  vmt_error err;
  if (sysclock_adjtimex(&tx, &err) != VMT_OK) throw ClockFailure(env, err, "adjtimex");
  Napi::Object out = Napi::Object::New(env);
  auto num = [&](const char *k, int64_t v) { out.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
  num("offset", tx.offset);
  num("freq", tx.freq);
  num("maxerror", tx.maxerror);
  num("esterror", tx.esterror);
  num("status", tx.status);
  num("constant", tx.constant);
  num("precision", tx.precision);
  num("tolerance", tx.tolerance);
  num("tick", tx.tick);
  num("timeSec", tx.time_sec);
  num("timeUsec", tx.time_usec);
  num("state", tx.state);
  return out;
}

}  // namespace

void RegisterClock(Napi::Env env, Napi::Object exports) {
  exports.Set("clockGetTime", Napi::Function::New(env, ClockGetTime, "clockGetTime"));
  exports.Set("clockSetTime", Napi::Function::New(env, ClockSetTime, "clockSetTime"));
  exports.Set("adjtimex", Napi::Function::New(env, Adjtimex, "adjtimex"));
}

}  // namespace vmt_addon
