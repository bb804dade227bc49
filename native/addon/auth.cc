// auth.cc -- PAM authentication for guest operations (issue 7).
//
// pamAuthenticate(service, user, password, confDir) -> Promise<PamResult>
//
// The PAM conversation can block (pam_unix reads /etc/shadow, pam_faildelay
// sleeps, LDAP modules talk to the network), so the whole exchange runs on
// a libuv worker thread (Napi::AsyncWorker); the JS thread never waits on it.
// The sequence is the reference's (guest-ops.md §4.4): pam_start →
// pam_authenticate → pam_acct_mgmt (expired, locked, pam_shells) →
// pam_setcred(ESTABLISH) → pam_setcred(DELETE) → pam_end. This process
// never changes its own credentials: the operation itself runs in a helper
// (native/runas).
//
// Thin on purpose: the caller (src/services/guestops/auth.ts) refuses empty
// passwords and non-UTF-8 input before calling here and throttles failures.
// The password is copied once into a buffer this file owns and wiped
// (explicit_bzero) as soon as PAM is done; it is never logged.
#include "addon/modules.h"

#include <security/pam_appl.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace vmt_addon {
namespace {

struct ConvData {
  const std::string *user;
  const std::vector<char> *password;
};

// ECHO_ON prompts get the user name, ECHO_OFF the password, information
// messages an empty answer (authPosix.c's conversation function).
int Converse(int n, const struct pam_message **msg, struct pam_response **resp, void *appdata) {
  if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
  auto *data = static_cast<ConvData *>(appdata);
  auto *r = static_cast<struct pam_response *>(calloc(static_cast<size_t>(n), sizeof(struct pam_response)));
  if (r == nullptr) return PAM_BUF_ERR;
  for (int i = 0; i < n; i++) {
    const char *answer = nullptr;
    switch (msg[i]->msg_style) {
      case PAM_PROMPT_ECHO_ON: answer = data->user->c_str(); break;
      case PAM_PROMPT_ECHO_OFF: answer = data->password->data(); break;
      case PAM_TEXT_INFO:
      case PAM_ERROR_MSG: answer = nullptr; break;
      default:
        for (int j = 0; j < i; j++) {
          if (r[j].resp != nullptr) {
            explicit_bzero(r[j].resp, strlen(r[j].resp));
            free(r[j].resp);
          }
        }
        free(r);
        return PAM_CONV_ERR;
    }
    if (answer != nullptr) {
      r[i].resp = strdup(answer);
      if (r[i].resp == nullptr) {
        for (int j = 0; j < i; j++) {
          if (r[j].resp != nullptr) {
            explicit_bzero(r[j].resp, strlen(r[j].resp));
            free(r[j].resp);
          }
        }
        free(r);
        return PAM_BUF_ERR;
      }
    }
    r[i].resp_retcode = 0;
  }
  *resp = r;
  return PAM_SUCCESS;
}

// Replaces Linux-PAM's failure delay (pam_unix asks for ~2 s) when the
// caller opts out: tests only; the daemon keeps the delay and throttles too.
void NoFailDelay(int, unsigned, void *) {}

class PamWorker : public Napi::AsyncWorker {
 public:
  PamWorker(Napi::Env env, std::string service, std::string user, const uint8_t *pw, size_t pwLen,
            std::string confDir, bool hasConfDir, bool noFailDelay)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        service_(std::move(service)),
        user_(std::move(user)),
        password_(pw, pw + pwLen),
        confDir_(std::move(confDir)),
        hasConfDir_(hasConfDir),
        noFailDelay_(noFailDelay) {
    password_.push_back('\0');
  }

  ~PamWorker() override { Wipe(); }

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    ConvData data{&user_, &password_};
    struct pam_conv conv = {Converse, &data};
    pam_handle_t *h = nullptr;
    int rc;
    if (hasConfDir_) {
      rc = pam_start_confdir(service_.c_str(), user_.c_str(), &conv, confDir_.c_str(), &h);
    } else {
      rc = pam_start(service_.c_str(), user_.c_str(), &conv, &h);
    }
    if (rc != PAM_SUCCESS) {
      Finish("start", rc, nullptr);
      Wipe();
      return;
    }
    if (noFailDelay_) pam_set_item(h, PAM_FAIL_DELAY, reinterpret_cast<const void *>(&NoFailDelay));
    stage_ = "authenticate";
    rc = pam_authenticate(h, PAM_SILENT);
    if (rc == PAM_SUCCESS) {
      stage_ = "acct_mgmt";
      rc = pam_acct_mgmt(h, PAM_SILENT);
    }
    if (rc == PAM_SUCCESS) {
      stage_ = "setcred";
      rc = pam_setcred(h, PAM_ESTABLISH_CRED | PAM_SILENT);
      if (rc == PAM_SUCCESS) pam_setcred(h, PAM_DELETE_CRED | PAM_SILENT);
    }
    Finish(stage_, rc, h);
    pam_end(h, rc);
    Wipe();
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object r = Napi::Object::New(env);
    r.Set("ok", Napi::Boolean::New(env, pamCode_ == PAM_SUCCESS));
    r.Set("pamCode", Napi::Number::New(env, pamCode_));
    r.Set("stage", Napi::String::New(env, stage_));
    r.Set("message", Napi::String::New(env, message_));
    deferred_.Resolve(r);
  }

  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  void Finish(const char *stage, int rc, pam_handle_t *h) {
    stage_ = stage;
    pamCode_ = rc;
    const char *m = pam_strerror(h, rc);
    message_ = m != nullptr ? m : "unknown PAM error";
  }

  void Wipe() {
    if (!password_.empty()) explicit_bzero(password_.data(), password_.size());
  }

  Napi::Promise::Deferred deferred_;
  std::string service_;
  std::string user_;
  std::vector<char> password_;
  std::string confDir_;
  bool hasConfDir_;
  bool noFailDelay_;
  const char *stage_ = "start";
  int pamCode_ = PAM_SYSTEM_ERR;
  std::string message_;
};

// pamAuthenticate(service, user, password: Uint8Array, confDir: string | null, noFailDelay?: boolean)
Napi::Value PamAuthenticate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsTypedArray()) {
    throw Napi::TypeError::New(env, "pamAuthenticate(service, user, password: Uint8Array, confDir | null)");
  }
  auto pw = info[2].As<Napi::Uint8Array>();
  bool hasConfDir = info[3].IsString();
  auto *w = new PamWorker(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(),
                          pw.Data(), pw.ByteLength(),
                          hasConfDir ? info[3].As<Napi::String>().Utf8Value() : std::string(), hasConfDir,
                          info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// The PAM return codes the caller classifies (guest-ops.md §4.4: which ones
// are "infrastructure" failures, which are "denied").
Napi::Object PamCodes(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
#define PAMC(n) o.Set(#n, Napi::Number::New(env, n))
  PAMC(PAM_SUCCESS); PAMC(PAM_OPEN_ERR); PAMC(PAM_SYMBOL_ERR); PAMC(PAM_SERVICE_ERR);
  PAMC(PAM_SYSTEM_ERR); PAMC(PAM_BUF_ERR); PAMC(PAM_PERM_DENIED); PAMC(PAM_AUTH_ERR);
  PAMC(PAM_CRED_INSUFFICIENT); PAMC(PAM_AUTHINFO_UNAVAIL); PAMC(PAM_USER_UNKNOWN);
  PAMC(PAM_MAXTRIES); PAMC(PAM_NEW_AUTHTOK_REQD); PAMC(PAM_ACCT_EXPIRED);
  PAMC(PAM_CRED_ERR); PAMC(PAM_NO_MODULE_DATA); PAMC(PAM_CONV_ERR); PAMC(PAM_ABORT);
  PAMC(PAM_BAD_ITEM); PAMC(PAM_CONV_AGAIN); PAMC(PAM_INCOMPLETE); PAMC(PAM_AUTHTOK_EXPIRED);
#undef PAMC
  return o;
}

}  // namespace

void RegisterAuth(Napi::Env env, Napi::Object exports) {
  exports.Set("pamAuthenticate", Napi::Function::New(env, PamAuthenticate, "pamAuthenticate"));
  exports.Set("pamCodes", PamCodes(env));
}

}  // namespace vmt_addon
