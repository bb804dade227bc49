// addon.cc -- node-addon-api bindings for the channel layer.
//
// Thin on purpose: argument validation and defaults live in
// src/native/index.ts. Every call is synchronous on the JS thread: one
// native call does one whole RPC (send + receive), because a thread-pool hop
// costs far more than the backdoor exits themselves.
//
// State is per addon instance (Napi::Addon, stored as instance data), so the
// module can be loaded in worker threads; the backdoor call counters are
// process-wide by nature and live in backdoor.c.
//
// Two exceptions to "synchronous on the JS thread": HangDetectorThread runs
// the hang detector's sampler on a thread of its own (native/system/
// hangdetect.c), because its whole job is to speak while the JS thread is
// stuck; it reports transitions back through a thread-safe function. And
// VsockTcloChannel is event-driven: the host pushes TCLO commands over vsock
// (channel.md §6.4), read from a uv_poll_t on the JS thread as they come.

#include <napi.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "addon/modules.h"
#include "backdoor/backdoor.h"
#include "backdoor/message.h"
#include "backdoor/rpcout.h"
#include "system/hangdetect.h"
#include "system/sdnotify.h"
#include "vsock/tclo.h"
#include "vsock/vsock.h"

namespace {

class VmtoolsAddon;

const char *StageName(rpcout_stage s) {
  switch (s) {
    case RPCOUT_STAGE_OPEN: return "open";
    case RPCOUT_STAGE_SEND: return "send";
    case RPCOUT_STAGE_RECEIVE: return "receive";
    case RPCOUT_STAGE_FORMAT: return "format";
    case RPCOUT_STAGE_CLOSE: return "close";
    default: return nullptr;
  }
}

// Builds the JS error for a native failure: an instance of the class
// registered with setErrorClass (ChannelError in index.ts) when there is one,
// else a plain Error; both carry the stable `code`.
Napi::Error MakeError(Napi::Env env, const vmt_error &e, rpcout_stage stage = RPCOUT_STAGE_NONE);

// Bytes of a Buffer / Uint8Array argument (index.ts guarantees the type).
struct Bytes {
  const uint8_t *data;
  size_t len;
};

Bytes GetBytes(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || !info[i].IsTypedArray()) {
    throw Napi::TypeError::New(info.Env(), "expected a Buffer or Uint8Array");
  }
  auto arr = info[i].As<Napi::TypedArray>();
  if (arr.TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), "expected a Buffer or Uint8Array");
  }
  auto u8 = arr.As<Napi::Uint8Array>();
  return Bytes{u8.Data(), u8.ByteLength()};
}

Napi::Value BufferOf(Napi::Env env, const uint8_t *p, size_t n) {
  return Napi::Buffer<uint8_t>::Copy(env, p, n);
}

Napi::Object RpcResult(Napi::Env env, const rpcout_result &res) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, res.ok != 0));
  o.Set("reply", BufferOf(env, res.reply, res.reply_len));
  return o;
}

uint64_t GetU64(const Napi::CallbackInfo &info, size_t i) {
  Napi::Value v = info[i];
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (v.IsNumber()) {
    return static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Channel: one backdoor message channel (RPCI or TCLO)

class Channel : public Napi::ObjectWrap<Channel> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Channel",
                       {
                           InstanceMethod<&Channel::Open>("open"),
                           InstanceMethod<&Channel::Send>("send"),
                           InstanceMethod<&Channel::Receive>("receive"),
                           InstanceMethod<&Channel::Close>("close"),
                           InstanceMethod<&Channel::Rpc>("rpc"),
                           InstanceMethod<&Channel::TcloPoll>("tcloPoll"),
                           InstanceMethod<&Channel::Info>("info"),
                           InstanceMethod<&Channel::SetCookieForTesting>("setCookieForTesting"),
                       });
  }

  explicit Channel(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Channel>(info) {
    msg_init(&ch_);
  }

  // A channel garbage-collected while open still gives its host slot back
  // (the host allows 128 channels in all, channel.md §3.3).
  ~Channel() override { msg_close(&ch_, nullptr); }

 private:
  // open(protocolNumber, forceLowBandwidth)
  void Open(const Napi::CallbackInfo &info) {
    uint32_t proto = info[0].As<Napi::Number>().Uint32Value();
    bool force_lb = info[1].ToBoolean();
    vmt_error err;
    if (msg_open(&ch_, proto, force_lb, &err) != VMT_OK) {
      throw MakeError(info.Env(), err, RPCOUT_STAGE_OPEN);
    }
  }

  void Send(const Napi::CallbackInfo &info) {
    Bytes b = GetBytes(info, 0);
    vmt_error err;
    if (msg_send(&ch_, b.data, b.len, &err) != VMT_OK) {
      throw MakeError(info.Env(), err, RPCOUT_STAGE_SEND);
    }
  }

  Napi::Value Receive(const Napi::CallbackInfo &info) {
    const uint8_t *p;
    size_t n;
    int present;
    vmt_error err;
    if (msg_receive(&ch_, &p, &n, &present, &err) != VMT_OK) {
      throw MakeError(info.Env(), err, RPCOUT_STAGE_RECEIVE);
    }
    return present ? BufferOf(info.Env(), p, n) : info.Env().Null();
  }

  void Close(const Napi::CallbackInfo &info) {
    vmt_error err;
    if (msg_close(&ch_, &err) != VMT_OK) {
      throw MakeError(info.Env(), err, RPCOUT_STAGE_CLOSE);
    }
  }

  Napi::Value Rpc(const Napi::CallbackInfo &info) {
    Bytes b = GetBytes(info, 0);
    rpcout_result res;
    vmt_error err;
    if (rpcout_send(&ch_, b.data, b.len, &res, &err) != VMT_OK) {
      throw MakeError(info.Env(), err, res.failed);
    }
    return RpcResult(info.Env(), res);
  }

  Napi::Value TcloPoll(const Napi::CallbackInfo &info) {
    Bytes b = GetBytes(info, 0);
    const uint8_t *p;
    size_t n;
    int present;
    vmt_error err;
    if (tclo_poll(&ch_, b.data, b.len, &p, &n, &present, &err) != VMT_OK) {
      throw MakeError(info.Env(), err);
    }
    return present ? BufferOf(info.Env(), p, n) : info.Env().Null();
  }

  Napi::Value Info(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("open", Napi::Boolean::New(env, ch_.is_open != 0));
    o.Set("protocol", Napi::String::New(env, ch_.proto ? msg_proto_name(ch_.proto) : ""));
    o.Set("id", Napi::Number::New(env, ch_.id));
    o.Set("cookie", Napi::Boolean::New(env, ch_.has_cookie != 0));
    o.Set("forceLowBandwidth", Napi::Boolean::New(env, ch_.force_lb != 0));
    return o;
  }

  // Tests only: make the next calls present a cookie the host never issued.
  void SetCookieForTesting(const Napi::CallbackInfo &info) {
    ch_.cookie_high = info[0].As<Napi::Number>().Uint32Value();
    ch_.cookie_low = info[1].As<Napi::Number>().Uint32Value();
  }

  vmt_channel ch_;
};

// ---------------------------------------------------------------------------
// VsockChannel: RPCI over AF_VSOCK, or over an injected fd in tests

class VsockChannel : public Napi::ObjectWrap<VsockChannel> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "VsockChannel",
                       {
                           InstanceMethod<&VsockChannel::Connect>("connect"),
                           InstanceMethod<&VsockChannel::AdoptFd>("adoptFd"),
                           InstanceMethod<&VsockChannel::Rpc>("rpc"),
                           InstanceMethod<&VsockChannel::Close>("close"),
                           InstanceMethod<&VsockChannel::Info>("info"),
                       });
  }

  explicit VsockChannel(const Napi::CallbackInfo &info) : Napi::ObjectWrap<VsockChannel>(info) {
    vsock_init(&v_);
  }

  ~VsockChannel() override { vsock_close(&v_); }

 private:
  // connect(port, privileged, fastClose, timeoutMs)
  void Connect(const Napi::CallbackInfo &info) {
    unsigned port = info[0].As<Napi::Number>().Uint32Value();
    bool privileged = info[1].ToBoolean();
    vmt_error err;
    if (vsock_connect(&v_, port, privileged, &err) != VMT_OK) {
      throw MakeError(info.Env(), err, RPCOUT_STAGE_OPEN);
    }
    v_.fast_close = info[2].ToBoolean();
    v_.timeout_ms = info[3].As<Napi::Number>().Int32Value();
  }

  // adoptFd(fd, fastClose, timeoutMs): the channel owns fd from now on.
  void AdoptFd(const Napi::CallbackInfo &info) {
    vsock_from_fd(&v_, info[0].As<Napi::Number>().Int32Value());
    v_.fast_close = info[1].ToBoolean();
    v_.timeout_ms = info[2].As<Napi::Number>().Int32Value();
  }

  Napi::Value Rpc(const Napi::CallbackInfo &info) {
    Bytes b = GetBytes(info, 0);
    rpcout_result res;
    vmt_error err;
    if (vsock_rpc(&v_, b.data, b.len, &res, &err) != VMT_OK) {
      throw MakeError(info.Env(), err, res.failed);
    }
    return RpcResult(info.Env(), res);
  }

  void Close(const Napi::CallbackInfo &) { vsock_close(&v_); }

  Napi::Value Info(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("open", Napi::Boolean::New(env, v_.fd >= 0));
    o.Set("privileged", Napi::Boolean::New(env, v_.privileged != 0));
    o.Set("localPort", v_.local_port == VSOCK_PORT_ANY ? env.Null()
                                                        : Napi::Number::New(env, v_.local_port));
    o.Set("fastClose", Napi::Boolean::New(env, v_.fast_close != 0));
    return o;
  }

  vmt_vsock v_;
};

// ---------------------------------------------------------------------------
// VsockTcloChannel: TCLO over vsock, the host pushing commands (channel.md §6.4)
//
// Event-driven by a uv_poll_t on the JS thread, not by a reader thread.
// libuv cannot wrap an AF_VSOCK fd as a stream (uv_guess_handle says
// UNKNOWN), but it can poll any fd epoll accepts. Why a poll handle: every
// command is dispatched on the JS thread anyway, so a reader thread would
// only move bytes into a queue and wake the loop through a thread-safe
// function -- one thread (and its stack) per channel, a hop per command, and
// a thread to wake and join on close and at environment teardown. A poll
// handle costs no thread, delivers packets in order without locks, and reads
// only what is there (non-blocking, native/vsock/tclo.c). Writes -- a short
// reply, a 20-byte PING -- are synchronous and bounded by the channel's
// timeout; with the 64 KiB socket buffers of §6.4 step 2 they do not wait.
// (The hang detector is the opposite case: it must run while JS is stuck, so
// it has its thread.)
//
// Lifetime: the uv_poll_t lives in a heap State that only the handle's close
// callback frees (libuv needs the memory until then). While started, the JS
// object is Ref()'d so it cannot be collected while it can still call back.
// If the environment (a worker, the process) goes first, an async cleanup
// hook stops the handle and closes the fd without calling into JS, and the
// environment waits for the close callback: no handle outlives its loop.

class VsockTcloChannel : public Napi::ObjectWrap<VsockTcloChannel> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "VsockTcloChannel",
                       {
                           InstanceMethod<&VsockTcloChannel::Connect>("connect"),
                           InstanceMethod<&VsockTcloChannel::AdoptFd>("adoptFd"),
                           InstanceMethod<&VsockTcloChannel::Start>("start"),
                           InstanceMethod<&VsockTcloChannel::Reply>("reply"),
                           InstanceMethod<&VsockTcloChannel::Ping>("ping"),
                           InstanceMethod<&VsockTcloChannel::Close>("close"),
                           InstanceMethod<&VsockTcloChannel::Info>("info"),
                       });
  }

  explicit VsockTcloChannel(const Napi::CallbackInfo &info)
      : Napi::ObjectWrap<VsockTcloChannel>(info), st_(new State) {
    st_->env = info.Env();
    st_->owner = this;
    vsock_tclo_reader_init(&st_->reader);
  }

  ~VsockTcloChannel() override {
    st_->owner = nullptr;
    if (st_->polling) StopPolling(st_, false);
    if (!st_->closing) Free(st_);  // else the close callback frees it
  }

 private:
  struct State {
    napi_env env = nullptr;
    VsockTcloChannel *owner = nullptr;  // null once the JS object is finalized
    int fd = -1;
    int timeout_ms = 0;
    bool polling = false;  // uv_poll_t initialised and not yet closed
    bool closing = false;  // uv_close called, close callback pending
    bool ref_held = false;  // the JS object is Ref()'d
    uv_poll_t poll;
    vsock_tclo_reader reader;
    Napi::FunctionReference on_command;
    Napi::FunctionReference on_closed;
    napi_async_context actx = nullptr;
    napi_async_cleanup_hook_handle hook = nullptr;
  };

  static void Free(State *st) {
    if (st->fd >= 0) close(st->fd);
    vsock_tclo_reader_free(&st->reader);
    delete st;
  }

  // connect(port, timeoutMs): §6.4 steps 1-2, or NOT_VMWARE off VMware.
  void Connect(const Napi::CallbackInfo &info) {
    RequireFresh(info.Env());
    unsigned port = info[0].As<Napi::Number>().Uint32Value();
    int timeout_ms = info[1].As<Napi::Number>().Int32Value();
    int fd;
    vmt_error err;
    if (vsock_tclo_connect(port, timeout_ms, &fd, &err) != VMT_OK) {
      throw MakeError(info.Env(), err, RPCOUT_STAGE_OPEN);
    }
    st_->fd = fd;
    st_->timeout_ms = timeout_ms;
  }

  // adoptFd(fd, timeoutMs): tests; the channel owns fd from now on.
  void AdoptFd(const Napi::CallbackInfo &info) {
    RequireFresh(info.Env());
    st_->fd = info[0].As<Napi::Number>().Int32Value();
    st_->timeout_ms = info[1].As<Napi::Number>().Int32Value();
  }

  // One connection per object: a restart makes a new channel (§5.4).
  void RequireFresh(Napi::Env env) {
    if (st_->fd >= 0 || st_->polling || st_->closing) {
      vmt_error err;
      vmt_fail(&err, VMT_NOT_OPEN, "vsock TCLO: this channel object was already used; make a new one");
      throw MakeError(env, err);
    }
  }

  // start(onCommand, onClosed)
  void Start(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    vmt_error err;
    if (st_->fd < 0 || st_->polling) {
      vmt_fail(&err, VMT_NOT_OPEN, st_->polling ? "vsock TCLO: already started"
                                                : "vsock TCLO: the channel is not open");
      throw MakeError(env, err);
    }
    // libuv does this too; the reader relies on it, so say it here.
    int fl = fcntl(st_->fd, F_GETFL);
    if (fl < 0 || fcntl(st_->fd, F_SETFL, fl | O_NONBLOCK) != 0) {
      vmt_sys_fail(&err, errno, "vsock TCLO: fcntl O_NONBLOCK");
      throw MakeError(env, err);
    }
    uv_loop_t *loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    int rc = uv_poll_init(loop, &st_->poll, st_->fd);
    if (rc != 0) {
      vmt_fail(&err, VMT_IO, "vsock TCLO: uv_poll_init: %s", uv_strerror(rc));
      throw MakeError(env, err);
    }
    st_->poll.data = st_;
    st_->polling = true;
    rc = uv_poll_start(&st_->poll, UV_READABLE | UV_DISCONNECT, &VsockTcloChannel::OnPoll);
    if (rc != 0) {
      StopPolling(st_, false);
      vmt_fail(&err, VMT_IO, "vsock TCLO: uv_poll_start: %s", uv_strerror(rc));
      throw MakeError(env, err);
    }
    st_->on_command = Napi::Persistent(info[0].As<Napi::Function>());
    st_->on_closed = Napi::Persistent(info[1].As<Napi::Function>());
    napi_value name = Napi::String::New(env, "VsockTcloChannel");
    napi_async_init(env, nullptr, name, &st_->actx);
    napi_add_async_cleanup_hook(env, &VsockTcloChannel::OnEnvCleanup, st_, &st_->hook);
    Ref();
    st_->ref_held = true;
  }

  void Send(const Napi::CallbackInfo &info, int64_t type, const uint8_t *p, size_t n) {
    vmt_error err;
    if (vsock_tclo_send(st_->fd, type, p, n, st_->timeout_ms, &err) != VMT_OK) {
      throw MakeError(info.Env(), err, RPCOUT_STAGE_SEND);
    }
  }

  // reply(buf): one DATA packet (§6.4 step 4).
  void Reply(const Napi::CallbackInfo &info) {
    Bytes b = GetBytes(info, 0);
    Send(info, GUESTRPCPKT_TYPE_DATA, b.data, b.len);
  }

  // ping(): one PING packet (§6.4 step 5).
  void Ping(const Napi::CallbackInfo &info) { Send(info, GUESTRPCPKT_TYPE_PING, nullptr, 0); }

  // close(): idempotent; onClosed is not called for a close the caller asked for.
  void Close(const Napi::CallbackInfo &) {
    if (st_->polling) {
      StopPolling(st_, false);
    } else if (st_->fd >= 0) {
      close(st_->fd);
      st_->fd = -1;
    }
  }

  Napi::Value Info(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("open", Napi::Boolean::New(env, st_->fd >= 0));
    o.Set("started", Napi::Boolean::New(env, st_->polling));
    int snd = -1, rcv = -1;
    socklen_t len = sizeof snd;
    if (st_->fd >= 0) {
      getsockopt(st_->fd, SOL_SOCKET, SO_SNDBUF, &snd, &len);
      len = sizeof rcv;
      getsockopt(st_->fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len);
    }
    o.Set("sendBufferSize", snd >= 0 ? Napi::Value(Napi::Number::New(env, snd)) : env.Null());
    o.Set("recvBufferSize", rcv >= 0 ? Napi::Value(Napi::Number::New(env, rcv)) : env.Null());
    return o;
  }

  // Stops watching, closes the fd (after uv_poll_stop, as libuv requires) and
  // starts closing the handle. No JS runs here.
  static void StopPolling(State *st, bool env_teardown) {
    if (!st->polling) return;
    st->polling = false;
    st->closing = true;
    uv_poll_stop(&st->poll);
    if (st->fd >= 0) {
      close(st->fd);
      st->fd = -1;
    }
    if (st->ref_held && !env_teardown && st->owner != nullptr) {
      st->owner->Unref();
    }
    st->ref_held = false;
    uv_close(reinterpret_cast<uv_handle_t *>(&st->poll), &VsockTcloChannel::OnHandleClosed);
  }

  static void OnHandleClosed(uv_handle_t *h) {
    State *st = static_cast<State *>(h->data);
    st->closing = false;
    st->on_command.Reset();
    st->on_closed.Reset();
    if (st->actx != nullptr) {
      napi_async_destroy(st->env, st->actx);
      st->actx = nullptr;
    }
    // Last: removing the hook may let a departing environment finish.
    napi_async_cleanup_hook_handle hook = st->hook;
    st->hook = nullptr;
    if (st->owner == nullptr) Free(st);
    if (hook != nullptr) napi_remove_async_cleanup_hook(hook);
  }

  // The environment is going away with the channel still started.
  static void OnEnvCleanup(napi_async_cleanup_hook_handle, void *arg) {
    State *st = static_cast<State *>(arg);
    // If a close is already under way its callback removes the hook.
    StopPolling(st, true);
  }

  // Calls a JS callback from the loop; a JS exception becomes an uncaught
  // exception (there is no JS caller to rethrow it to).
  static void CallJs(State *st, napi_value fn, napi_value recv, napi_value arg) {
    napi_value result;
    napi_status s = napi_make_callback(st->env, st->actx, recv, fn, 1, &arg, &result);
    if (s == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(st->env, &exc);
      napi_fatal_exception(st->env, exc);
    }
  }

  // Readable (or hung up): read, hand out every complete packet, and end the
  // channel on EOF or error -- after the packets that did arrive.
  static void OnPoll(uv_poll_t *h, int status, int) {
    State *st = static_cast<State *>(h->data);
    if (!st->polling || st->owner == nullptr) return;
    Napi::Env env(st->env);
    Napi::HandleScope scope(env);
    napi_value recv = st->owner->Value();
    vmt_error err;
    bool failed = false, eof = false;

    if (status < 0) {
      vmt_fail(&err, VMT_IO, "vsock TCLO: poll: %s", uv_strerror(status));
      failed = true;
    } else {
      int at_eof = 0;
      failed = vsock_tclo_reader_fill(&st->reader, st->fd, &at_eof, &err) != VMT_OK;
      eof = at_eof != 0;
    }
    // An errored socket carries no replies: deliver only from a healthy one.
    while (!failed) {
      const uint8_t *p;
      size_t n;
      int have;
      if (vsock_tclo_reader_next(&st->reader, &p, &n, &have, &err) != VMT_OK) {
        failed = true;  // §6.4 step 3: a bad packet closes the channel
        break;
      }
      if (!have) break;
      napi_value buf;
      void *data;
      if (napi_create_buffer_copy(st->env, n, p, &data, &buf) != napi_ok) {
        vmt_fail(&err, VMT_NO_MEMORY, "vsock TCLO: cannot allocate a %zu-byte command buffer", n);
        failed = true;
        break;
      }
      CallJs(st, st->on_command.Value(), recv, buf);
      if (!st->polling) return;  // closed from the callback
    }
    if (!failed && eof && vsock_tclo_reader_pending(&st->reader) > 0) {
      vmt_fail(&err, VMT_CHANNEL_CLOSED, "vsock TCLO: the host closed the connection in the "
               "middle of a packet (%zu bytes buffered)", vsock_tclo_reader_pending(&st->reader));
      failed = true;
    }
    if (!failed && !eof) return;

    // End of the channel: stop first (the callback may start a new one),
    // then report: an error, or null for a clean close by the host. The
    // reference stays valid until the close callback, on a later tick.
    napi_value on_closed = st->on_closed.Value();
    StopPolling(st, false);
    napi_value arg = env.Null();
    if (failed) {
      try {
        arg = MakeError(env, err, RPCOUT_STAGE_RECEIVE).Value();
      } catch (const Napi::Error &) {
        return;  // the environment is going away
      }
    }
    CallJs(st, on_closed, recv, arg);
  }

  State *st_;
};

// ---------------------------------------------------------------------------
// HangDetectorThread: the hang detector's sampling thread (core-services.md §5.3)

class HangDetectorThread : public Napi::ObjectWrap<HangDetectorThread> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "HangDetectorThread",
                       {
                           InstanceMethod<&HangDetectorThread::Checkin>("checkin"),
                           InstanceMethod<&HangDetectorThread::Rearm>("rearm"),
                           InstanceMethod<&HangDetectorThread::State>("state"),
                           InstanceMethod<&HangDetectorThread::Stop>("stop"),
                       });
  }

  // new HangDetectorThread(intervalMs, starveForTestingMs, onEvent)
  explicit HangDetectorThread(const Napi::CallbackInfo &info)
      : Napi::ObjectWrap<HangDetectorThread>(info), run_(new Run) {
    Napi::Env env = info.Env();
    unsigned interval_ms = info[0].As<Napi::Number>().Uint32Value();
    unsigned starve_ms = info[1].As<Napi::Number>().Uint32Value();
    run_->env = env;
    run_->tsfn = Reports::New(env, info[2].As<Napi::Function>(), "hangDetector", 0, 1, run_.get());
    // Reports must not keep the process alive; the thread itself never does.
    run_->tsfn.Unref(env);
    vmt_error err;
    if (hd_start(interval_ms, starve_ms, &HangDetectorThread::OnEvent, run_.get(), &run_->d, &err) != VMT_OK) {
      run_->tsfn.Release();
      throw MakeError(env, err);
    }
    // Registered after the thread-safe function, so it runs before that is
    // torn down (cleanup hooks run last-in first-out) when the environment
    // (a worker, or the process) goes away without stop().
    napi_add_env_cleanup_hook(env, &HangDetectorThread::OnEnvCleanup, run_.get());
  }

  ~HangDetectorThread() override {
    if (run_->d != nullptr) {
      napi_remove_env_cleanup_hook(run_->env, &HangDetectorThread::OnEnvCleanup, run_.get());
      StopRun(run_.get(), false);
    }
  }

 private:
  struct Run;
  static void Deliver(Napi::Env env, Napi::Function callback, Run *run, hd_event *ev);
  using Reports = Napi::TypedThreadSafeFunction<Run, hd_event, &HangDetectorThread::Deliver>;

  struct Run {
    napi_env env = nullptr;
    hd_detector *d = nullptr;
    Reports tsfn;
  };

  // Joins the thread (no report can be queued after it), then lets the
  // thread-safe function go: released normally, so queued reports are still
  // delivered; aborted when the environment is going away, so they are
  // dropped (JS can no longer run then).
  static void StopRun(Run *run, bool env_teardown) {
    if (run->d == nullptr) return;
    hd_stop(run->d);
    run->d = nullptr;
    if (env_teardown) {
      run->tsfn.Abort();
    } else {
      run->tsfn.Release();
    }
  }

  static void OnEnvCleanup(void *arg) { StopRun(static_cast<Run *>(arg), true); }

  // On the detector thread: queue a copy for the JS thread, never block.
  static void OnEvent(const hd_event *ev, void *ctx) {
    Run *run = static_cast<Run *>(ctx);
    auto *copy = new hd_event(*ev);
    if (run->tsfn.NonBlockingCall(copy) != napi_ok) delete copy;
  }

  void Checkin(const Napi::CallbackInfo &) {
    if (run_->d != nullptr) hd_checkin(run_->d);
  }

  void Rearm(const Napi::CallbackInfo &) {
    if (run_->d != nullptr) hd_rearm(run_->d);
  }

  Napi::Value State(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (run_->d == nullptr) return env.Null();
    return Napi::String::New(env, hd_state_name(hd_get_state(run_->d)));
  }

  void Stop(const Napi::CallbackInfo &) {
    if (run_->d == nullptr) return;
    napi_remove_env_cleanup_hook(run_->env, &HangDetectorThread::OnEnvCleanup, run_.get());
    StopRun(run_.get(), false);
  }

  std::unique_ptr<Run> run_;
};

// On the JS thread (env null when the report is dropped at teardown).
// The listener is called through the C API: node-addon-api would turn a
// failed call during environment teardown into a C++ exception that cannot
// be rethrown into JS, which ends in std::terminate. A listener's own JS
// exception is left to Node's policy for N-API callbacks (HangDetector in
// src/daemon never lets one through).
void HangDetectorThread::Deliver(Napi::Env env, Napi::Function callback, Run *, hd_event *ev) {
  std::unique_ptr<hd_event> own(ev);
  if (env == nullptr || callback.IsEmpty()) return;
  Napi::Object o;
  try {
    o = Napi::Object::New(env);
    o.Set("state", Napi::String::New(env, hd_state_name(ev->state)));
    o.Set("outcome", Napi::String::New(env, hd_outcome_name(ev->outcome)));
    o.Set("request", Napi::String::New(env, ev->request));
    o.Set("detail", Napi::String::New(env, ev->detail));
    o.Set("elapsedMs", Napi::Number::New(env, ev->elapsed_ms));
    Napi::Array intervals = Napi::Array::New(env, HD_COUNTER_RESET);
    for (uint32_t i = 0; i < HD_COUNTER_RESET; i++) {
      intervals.Set(i, Napi::Number::New(env, ev->intervals_ms[i]));
    }
    o.Set("intervalsMs", intervals);
  } catch (const Napi::Error &) {
    return;  // the environment is going away
  }
  napi_value argv[1] = {o};
  napi_value result;
  napi_call_function(env, env.Undefined(), callback, 1, argv, &result);
}

// ---------------------------------------------------------------------------
// The addon instance

class VmtoolsAddon : public Napi::Addon<VmtoolsAddon> {
 public:
  VmtoolsAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
        InstanceMethod<&VmtoolsAddon::Detect>("detect"),
        InstanceMethod<&VmtoolsAddon::LowBandwidth>("lowBandwidth"),
        InstanceMethod<&VmtoolsAddon::RpcOneShot>("rpcOneShot"),
        InstanceMethod<&VmtoolsAddon::Stats>("stats"),
        InstanceMethod<&VmtoolsAddon::ResetStats>("resetStats"),
        InstanceMethod<&VmtoolsAddon::SocketPair>("socketpair"),
        InstanceMethod<&VmtoolsAddon::SetErrorClass>("setErrorClass"),
        InstanceMethod<&VmtoolsAddon::EncodePacket>("encodePacket"),
        InstanceMethod<&VmtoolsAddon::ConnectUnixForTesting>("connectUnixForTesting"),
        InstanceMethod<&VmtoolsAddon::SdNotify>("sdNotify"),
        InstanceMethod<&VmtoolsAddon::BindDatagramForTesting>("bindDatagramForTesting"),
        InstanceMethod<&VmtoolsAddon::RecvDatagramForTesting>("recvDatagramForTesting"),
        InstanceValue("Channel", Channel::Init(env), napi_enumerable),
        InstanceValue("VsockChannel", VsockChannel::Init(env), napi_enumerable),
        InstanceValue("VsockTcloChannel", VsockTcloChannel::Init(env), napi_enumerable),
        InstanceValue("HangDetectorThread", HangDetectorThread::Init(env), napi_enumerable),
    });
    // Service parts (native/addon/modules.h), each in a file of its own.
    vmt_addon::RegisterClock(env, exports);
    vmt_addon::RegisterFreeze(env, exports);
    vmt_addon::RegisterAuth(env, exports);
  }

  Napi::FunctionReference error_class;

 private:
  Napi::Value Detect(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    bd_detect_result r;
    bd_detect(&r);
    Napi::Object o = Napi::Object::New(env);
    o.Set("vmware", Napi::Boolean::New(env, r.vmware != 0));
    o.Set("cpuidVendor", Napi::String::New(env, r.cpuid_vendor));
    o.Set("hypervisorPresent", Napi::Boolean::New(env, r.hypervisor_present != 0));
    o.Set("backdoorVersion", r.backdoor_version ? Napi::Value(Napi::Number::New(env, r.backdoor_version))
                                                : env.Null());
    o.Set("vmxType", Napi::Number::New(env, r.vmx_type));
    o.Set("overridden", Napi::Boolean::New(env, r.overridden != 0));
    o.Set("probed", Napi::Boolean::New(env, r.probed != 0));
    o.Set("probeFaulted", Napi::Boolean::New(env, r.probe_faulted != 0));
    return o;
  }

  // lowBandwidth(rbx, rcx, rdx, rsi, rdi): EAX is always the magic and
  // DX.lo16 always the LB port -- anything else would fault even on VMware.
  Napi::Value LowBandwidth(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!bd_available()) {
      vmt_error err;
      vmt_fail(&err, VMT_NOT_VMWARE, "no VMware backdoor: not running on a VMware hypervisor");
      throw MakeError(env, err);
    }
    bd_regs r;
    r.rax = BDOOR_MAGIC;
    r.rbx = GetU64(info, 0);
    r.rcx = GetU64(info, 1);
    r.rdx = (GetU64(info, 2) & ~static_cast<uint64_t>(0xFFFF)) | BDOOR_PORT;
    r.rsi = GetU64(info, 3);
    r.rdi = GetU64(info, 4);
    bd_lb_call(&r);

    Napi::Object o = Napi::Object::New(env);
    const uint64_t regs[6] = {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi};
    static const char *const names32[6] = {"eax", "ebx", "ecx", "edx", "esi", "edi"};
    static const char *const names64[6] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi"};
    for (int i = 0; i < 6; i++) {
      o.Set(names32[i], Napi::Number::New(env, static_cast<uint32_t>(regs[i])));
      o.Set(names64[i], Napi::BigInt::New(env, regs[i]));
    }
    return o;
  }

  // rpcOneShot(request, forceLowBandwidth)
  Napi::Value RpcOneShot(const Napi::CallbackInfo &info) {
    Bytes b = GetBytes(info, 0);
    rpcout_result res;
    vmt_error err;
    if (rpcout_send_one(b.data, b.len, info[1].ToBoolean(), &res, &err) != VMT_OK) {
      throw MakeError(info.Env(), err, res.failed);
    }
    Napi::Object o = RpcResult(info.Env(), res);
    free(res.owned);
    return o;
  }

  Napi::Value Stats(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    static const char *const types[BD_STATS_MSG_TYPES] = {
        "OPEN", "SENDSIZE", "SENDPAYLOAD", "RECVSIZE", "RECVPAYLOAD", "RECVSTATUS", "CLOSE", "OTHER"};
    bd_stats s;
    bd_stats_get(&s);
    Napi::Object o = Napi::Object::New(env);
    Napi::Object by_cmd = Napi::Object::New(env);
    for (uint32_t c = 0; c < BD_STATS_CMDS; c++) {
      if (s.lb_by_cmd[c] != 0) {
        by_cmd.Set(c, Napi::Number::New(env, static_cast<double>(s.lb_by_cmd[c])));
      }
    }
    Napi::Object by_type = Napi::Object::New(env);
    for (int t = 0; t < BD_STATS_MSG_TYPES; t++) {
      by_type.Set(types[t], Napi::Number::New(env, static_cast<double>(s.lb_message_by_type[t])));
    }
    o.Set("lb", Napi::Number::New(env, static_cast<double>(s.lb_total)));
    o.Set("lbByCommand", by_cmd);
    o.Set("lbOtherCommands", Napi::Number::New(env, static_cast<double>(s.lb_other)));
    o.Set("lbMessage", by_type);
    o.Set("hbOut", Napi::Number::New(env, static_cast<double>(s.hb_out)));
    o.Set("hbIn", Napi::Number::New(env, static_cast<double>(s.hb_in)));
    o.Set("total", Napi::Number::New(env, static_cast<double>(s.lb_total + s.hb_out + s.hb_in)));
    return o;
  }

  void ResetStats(const Napi::CallbackInfo &) { bd_stats_reset(); }

  // socketpair() -> [fd, fd]: a connected AF_UNIX stream pair for tests.
  Napi::Value SocketPair(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      vmt_error err;
      vmt_fail(&err, VMT_IO, "socketpair: %s", strerror(errno));
      err.sys_errno = errno;
      throw MakeError(env, err);
    }
    Napi::Array a = Napi::Array::New(env, 2);
    a.Set(0u, Napi::Number::New(env, fds[0]));
    a.Set(1u, Napi::Number::New(env, fds[1]));
    return a;
  }

  // connectUnixForTesting(path) -> fd: a stream to the simulator's stand-in
  // for CID 0 port 976, to drive VsockChannel.fromFd end to end.
  Napi::Value ConnectUnixForTesting(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    std::string path = info[0].As<Napi::String>().Utf8Value();
    struct sockaddr_un addr;
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    vmt_error err;
    if (path.size() >= sizeof addr.sun_path) {
      vmt_fail(&err, VMT_IO, "UNIX socket path too long: %s", path.c_str());
      throw MakeError(env, err);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, reinterpret_cast<struct sockaddr *>(&addr), sizeof addr) != 0) {
      int e = errno;
      if (fd >= 0) close(fd);
      vmt_fail(&err, VMT_IO, "connect %s: %s", path.c_str(), strerror(e));
      err.sys_errno = e;
      throw MakeError(env, err);
    }
    return Napi::Number::New(env, fd);
  }

  // sdNotify(socketPath, message): one datagram to $NOTIFY_SOCKET.
  void SdNotify(const Napi::CallbackInfo &info) {
    std::string path = info[0].As<Napi::String>().Utf8Value();
    Bytes b = GetBytes(info, 1);
    vmt_error err;
    if (sdnotify_send(path.data(), path.size(), b.data, b.len, &err) != VMT_OK) {
      throw MakeError(info.Env(), err);
    }
  }

  // bindDatagramForTesting(path) -> fd: a stand-in for systemd's notify socket.
  Napi::Value BindDatagramForTesting(const Napi::CallbackInfo &info) {
    std::string path = info[0].As<Napi::String>().Utf8Value();
    int fd;
    vmt_error err;
    if (sdnotify_bind_for_testing(path.data(), path.size(), &fd, &err) != VMT_OK) {
      throw MakeError(info.Env(), err);
    }
    return Napi::Number::New(info.Env(), fd);
  }

  // recvDatagramForTesting(fd, timeoutMs) -> Buffer | null
  Napi::Value RecvDatagramForTesting(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    int fd = info[0].As<Napi::Number>().Int32Value();
    int timeout_ms = info[1].As<Napi::Number>().Int32Value();
    std::vector<uint8_t> buf(65536);
    size_t n;
    vmt_error err;
    if (sdnotify_recv_for_testing(fd, timeout_ms, buf.data(), buf.size(), &n, &err) != VMT_OK) {
      throw MakeError(env, err);
    }
    if (n == static_cast<size_t>(-1)) return env.Null();
    return BufferOf(env, buf.data(), n < buf.size() ? n : buf.size());
  }

  // encodePacket(type, payload|null, fastClose) -> Buffer: the exact bytes
  // vsock_rpc writes (§6.3), for framing tests and the TCLO-over-vsock work.
  Napi::Value EncodePacket(const Napi::CallbackInfo &info) {
    int64_t type = info[0].As<Napi::Number>().Int64Value();
    bool has_payload = info[1].IsTypedArray();
    Bytes b{nullptr, 0};
    if (has_payload) b = GetBytes(info, 1);
    bool fast_close = info[2].ToBoolean();
    size_t n = guestrpc_packet_size(has_payload, b.len, fast_close);
    auto out = Napi::Buffer<uint8_t>::New(info.Env(), n);
    guestrpc_packet_encode(out.Data(), type, has_payload, b.data, b.len, fast_close);
    return out;
  }

  void SetErrorClass(const Napi::CallbackInfo &info) {
    error_class = Napi::Persistent(info[0].As<Napi::Function>());
  }
};

Napi::Error MakeError(Napi::Env env, const vmt_error &e, rpcout_stage stage) {
  Napi::String message = Napi::String::New(env, e.message);
  Napi::String code = Napi::String::New(env, vmt_status_name(e.code));
  VmtoolsAddon *addon = env.GetInstanceData<VmtoolsAddon>();
  Napi::Object err;
  if (addon != nullptr && !addon->error_class.IsEmpty()) {
    err = addon->error_class.New({message, code});
  } else {
    err = Napi::Error::New(env, e.message).Value();
  }
  err.Set("code", code);
  if (e.sys_errno != 0) err.Set("errno", Napi::Number::New(env, e.sys_errno));
  if (const char *s = StageName(stage)) err.Set("stage", Napi::String::New(env, s));
  return Napi::Error(env, err);
}

}  // namespace

NODE_API_ADDON(VmtoolsAddon)
