// Wake-ups of ring and perf buffers on the Node event loop: uv_poll watches a pollable fd
// (a ring buffer map, or libbpf's epoll fd of a perf buffer) and tells the owner, which
// decides what a wake-up does. Mechanism only: no records pass through here.
//
// Lifetime is the delicate part. libuv calls a handle's close callback in a later loop
// turn, and a Worker's loop takes its last turn after its environment is freed and this
// addon is unloaded: a close callback (addon code) run then jumps into unmapped memory.
// So each poller registers an async cleanup hook, which keeps the environment (and the
// addon) alive until the poller's handles are closed: the hook asks the owner to release
// everything, and the last close callback removes the hook and frees the poller. The same
// removal ends a poller stopped in the ordinary way. Nothing of the owner is touched after
// Stop(), so the owner may be freed at any time after it.
//
// Edge-triggered wake-ups (ring buffers): uv_poll is level-triggered, and a ring buffer's
// fd polls readable whenever the producer is ahead of the consumer, also while the record
// at the consumer is still being written; a consumer that has read all it can would be
// woken again at once, over and over, in a busy loop that also slows the producer down
// (both CPUs fight over the ring's cache lines). So the fd goes into an epoll set of our
// own with EPOLLET, and uv_poll watches that set: it polls readable only after the kernel
// has signalled the ring (a record committed while the consumer had caught up, or a
// forced wake-up). The owner must then read until it is empty or at a record still being
// written, re-reading after it publishes its position (the kernel signals a commit at the
// position the consumer published), and ask for another pass (Again()) when it stops early.
#pragma once

#include "common.h"

#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

#include <functional>

namespace nbpf {

class EventPoller {
 public:
  // Starts watching `fd` for readability. `onReady` runs on the loop's thread on each
  // wake-up; `onTeardown` runs when the environment ends with the poller still running
  // (it must release the owner, which calls Stop()). Returns nullptr and sets *err
  // (a negative libuv code) on failure.
  // `edge`: wake-ups only when the kernel signals `fd` (see above).
  static EventPoller* Start(Napi::Env env, int fd, std::function<void()> onReady, std::function<void()> onTeardown, int* err,
                            bool edge = false) {
    auto* self = new EventPoller(std::move(onReady), std::move(onTeardown));
    *err = self->Init(env, fd, edge);
    if (*err) {
      self->Stop();
      return nullptr;
    }
    return self;
  }

  // No callback runs after this returns; the poller frees itself once libuv is done.
  // Must run before `fd` is closed. Idempotent.
  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    onReady_ = nullptr;
    onTeardown_ = nullptr;
    if (pollInit_) Close(reinterpret_cast<uv_handle_t*>(&poll_));
    if (checkInit_) Close(reinterpret_cast<uv_handle_t*>(&check_));
    if (againInit_) Close(reinterpret_cast<uv_handle_t*>(&again_));
    // uv_close has taken the fd out of libuv's epoll set already.
    if (edgeFd_ >= 0) close(edgeFd_);
    edgeFd_ = -1;
    if (closing_ == 0) Finish();
  }

  // One more drain, in the loop's next turn (a due timer: the poll phase does not block
  // before it): the owner stopped before the records it could read ran out, and an
  // edge-triggered poller would not wake it for them.
  void Again() {
    if (!stopped_ && !paused_) uv_timer_start(&again_, OnAgain, 0, 0);
  }

  // Stops watching (the owner's queue is full): records stay in the kernel's buffer.
  void Pause() {
    if (stopped_ || paused_) return;
    paused_ = true;
    uv_poll_stop(&poll_);
    uv_check_stop(&check_);
    uv_timer_stop(&again_);
  }

  // Watches again, with one drain in the next check phase (see ScheduleDrains).
  int Resume() {
    if (stopped_ || !paused_) return 0;
    paused_ = false;
    int err = uv_poll_start(&poll_, UV_READABLE, OnReadable);
    if (!err) ScheduleDrains(1);
    return err;
  }

  void SetRef(bool ref) {
    if (stopped_) return;
    if (ref) uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
    else uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  }

 private:
  EventPoller(std::function<void()> onReady, std::function<void()> onTeardown)
      : onReady_(std::move(onReady)), onTeardown_(std::move(onTeardown)) {}

  int Init(Napi::Env env, int fd, bool edge) {
    if (napi_add_async_cleanup_hook(env, OnEnvTeardown, this, &hook_) != napi_ok) return UV_ENOMEM;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return UV_EINVAL;
    if (edge) {
      edgeFd_ = epoll_create1(EPOLL_CLOEXEC);
      if (edgeFd_ < 0) return -errno;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLET;
      if (epoll_ctl(edgeFd_, EPOLL_CTL_ADD, fd, &ev)) return -errno;
      fd = edgeFd_;
    }
    int err = uv_poll_init(loop, &poll_, fd);
    if (err) return err;
    pollInit_ = true;
    poll_.data = this;
    uv_check_init(loop, &check_);
    checkInit_ = true;
    check_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&check_));
    uv_timer_init(loop, &again_);
    againInit_ = true;
    again_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&again_));
    err = uv_poll_start(&poll_, UV_READABLE, OnReadable);
    if (err) return err;
    // libuv adds the fd to its epoll set only in the loop's next poll phase, and a perf
    // event's poll() clears its readiness when asked (perf_poll's atomic_xchg): records
    // that arrive before that epoll_ctl(ADD) would signal nothing, and a full buffer would
    // then never signal again. So drain in the check phase after the poll phase that
    // registered the fd; two passes cover a Start() made during a poll callback.
    ScheduleDrains(2);
    return 0;
  }

  void ScheduleDrains(int passes) {
    checksLeft_ = passes;
    uv_check_start(&check_, OnCheck);
  }

  void Close(uv_handle_t* h) {
    closing_++;
    uv_close(h, OnClosed);
  }

  // The end of the poller: the environment may go now (if it is going).
  void Finish() {
    if (hook_) napi_remove_async_cleanup_hook(hook_);
    delete this;
  }

  static void OnClosed(uv_handle_t* h) {
    auto* self = static_cast<EventPoller*>(h->data);
    if (--self->closing_ == 0) self->Finish();
  }

  static void OnEnvTeardown(napi_async_cleanup_hook_handle, void* arg) {
    auto* self = static_cast<EventPoller*>(arg);
    // The owner's release calls Stop(); if it does not, stop here all the same.
    if (self->onTeardown_) {
      auto release = std::move(self->onTeardown_);
      release();
    }
    self->Stop();
  }

  static void OnCheck(uv_check_t* handle) {
    auto* self = static_cast<EventPoller*>(handle->data);
    if (self->stopped_) return;
    if (--self->checksLeft_ <= 0) uv_check_stop(&self->check_);
    self->onReady_();  // may Stop() or Pause() the poller
  }

  static void OnAgain(uv_timer_t* handle) {
    auto* self = static_cast<EventPoller*>(handle->data);
    if (!self->stopped_) self->onReady_();
  }

  static void OnReadable(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<EventPoller*>(handle->data);
    if (self->stopped_) return;
    if (self->edgeFd_ >= 0) {
      // Takes the signal off our set (EPOLLET: reported once); one that comes during the
      // drain below puts it back, and the loop wakes us again.
      epoll_event ev;
      while (epoll_wait(self->edgeFd_, &ev, 1, 0) < 0 && errno == EINTR) {
      }
    }
    self->onReady_();
  }

  std::function<void()> onReady_;
  std::function<void()> onTeardown_;
  napi_async_cleanup_hook_handle hook_ = nullptr;
  uv_poll_t poll_{};
  uv_check_t check_{};
  uv_timer_t again_{};
  bool pollInit_ = false;
  bool checkInit_ = false;
  bool againInit_ = false;
  int edgeFd_ = -1;
  bool stopped_ = false;
  bool paused_ = false;
  int checksLeft_ = 0;
  int closing_ = 0;
};

// Calls a JS callback from a libuv callback. A throw that reaches here has no JS frame to
// go to: it becomes the process's (or worker's) uncaught exception, as an 'error' event
// without a listener does in Node. The TS layer catches the user's callbacks itself.
inline void CallFromLoop(Napi::Env env, Napi::FunctionReference& fn, const std::vector<napi_value>& args) {
  Napi::HandleScope scope(env);
  try {
    fn.MakeCallback(env.Global(), args);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());
  }
}

}  // namespace nbpf
