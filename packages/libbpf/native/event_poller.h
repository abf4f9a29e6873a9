// Feeds records from a libbpf ring or perf buffer into the Node event loop: uv_poll
// watches the buffer's epoll fd, records of one wake-up are batched into one Buffer and
// one callback (per-record JS calls would dominate the cost at high event rates).
#pragma once

#include "common.h"

#include <uv.h>

#include <functional>

namespace nbpf {

class EventPoller {
 public:
  // drain() consumes what is ready (calling Add for each record); returns <0 on error.
  EventPoller(Napi::Env env, Napi::Function callback, std::function<int()> drain)
      : env_(env), callback_(Napi::Persistent(callback)), drain_(std::move(drain)) {}
  ~EventPoller() { Stop(); }

  int Start(int epollFd) {
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env_, &loop);
    poll_ = new uv_poll_t;
    poll_->data = this;
    int err = uv_poll_init(loop, poll_, epollFd);
    if (!err) err = uv_poll_start(poll_, UV_READABLE, OnReadable);
    if (err) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), FreeHandle);
      poll_ = nullptr;
      return err;
    }
    // libuv adds the fd to its epoll set only in the loop's next poll phase, and a perf
    // event's poll() clears its readiness when asked (perf_poll's atomic_xchg): records
    // that arrive before that epoll_ctl(ADD) would signal nothing, and a full buffer would
    // then never signal again. So drain once in the check phase after the poll phase that
    // registered the fd; two check passes cover a Start() made during a poll callback.
    check_ = new uv_check_t;
    check_->data = this;
    uv_check_init(loop, check_);
    uv_check_start(check_, OnCheck);
    uv_unref(reinterpret_cast<uv_handle_t*>(check_));
    checksLeft_ = 2;
    return 0;
  }

  // Must run before the epoll fd is closed.
  void Stop() {
    StopCheck();
    if (!poll_) return;
    uv_poll_stop(poll_);
    poll_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), FreeHandle);
    poll_ = nullptr;
  }

  void SetRef(bool ref) {
    if (!poll_) return;
    if (ref) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
    else uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }

  void Add(const void* data, uint32_t size, uint32_t cpu) {
    meta_.push_back(static_cast<uint32_t>(bytes_.size()));
    meta_.push_back(size);
    meta_.push_back(cpu);
    const uint8_t* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  }
  void AddLost(uint64_t n) { lost_ += n; }

  // Drains and delivers synchronously; returns the number of records delivered.
  int DrainAndDeliver() {
    int rc = drain_();
    size_t n = meta_.size() / 3;
    Deliver(rc < 0 ? rc : 0);
    return rc < 0 ? rc : static_cast<int>(n);
  }

 private:
  static void FreeHandle(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }
  static void FreeCheck(uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); }

  void StopCheck() {
    if (!check_) return;
    uv_check_stop(check_);
    check_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(check_), FreeCheck);
    check_ = nullptr;
  }

  static void OnCheck(uv_check_t* handle) {
    auto* self = static_cast<EventPoller*>(handle->data);
    if (!self) return;
    {
      Napi::HandleScope scope(self->env_);
      self->DrainAndDeliver();
    }
    // The callback may have closed the buffer (Stop() already released the check).
    if (self->check_ && --self->checksLeft_ <= 0) self->StopCheck();
  }

  static void OnReadable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<EventPoller*>(handle->data);
    if (!self) return;
    Napi::HandleScope scope(self->env_);
    self->DrainAndDeliver();
  }

  void Deliver(int error) {
    if (meta_.empty() && lost_ == 0 && error == 0) return;
    Napi::Env env = env_;
    Napi::HandleScope scope(env);
    auto bytes = Napi::Buffer<uint8_t>::Copy(env, bytes_.data(), bytes_.size());
    auto meta = Napi::Uint32Array::New(env, meta_.size());
    std::copy(meta_.begin(), meta_.end(), meta.Data());
    double lost = static_cast<double>(lost_);
    bytes_.clear();
    meta_.clear();
    lost_ = 0;
    try {
      callback_.MakeCallback(env.Global(), {bytes, meta, Napi::Number::New(env, lost), Napi::Number::New(env, -error)});
    } catch (const Napi::Error& e) {
      // No JS frame to throw into from a libuv callback: report it as uncaught.
      napi_fatal_exception(env, e.Value());
    }
  }

  Napi::Env env_;
  Napi::FunctionReference callback_;
  std::function<int()> drain_;
  uv_poll_t* poll_ = nullptr;
  uv_check_t* check_ = nullptr;
  int checksLeft_ = 0;
  std::vector<uint8_t> bytes_;
  std::vector<uint32_t> meta_;  // (offset, length, cpu) per record
  uint64_t lost_ = 0;
};

}  // namespace nbpf
