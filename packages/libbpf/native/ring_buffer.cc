// BPF_MAP_TYPE_RINGBUF consumer over libbpf's ring_buffer.
#include "event_poller.h"

#include <cerrno>
#include <memory>

namespace nbpf {

class NativeRingBuffer : public Napi::ObjectWrap<NativeRingBuffer> {
 public:
  // new NativeRingBuffer(mapFd, callback(bytes, meta, lost, errno))
  explicit NativeRingBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeRingBuffer>(info) {
    Napi::Env env = info.Env();
    int fd = ArgI32(info, 0, "map fd");
    if (info.Length() < 2 || !info[1].IsFunction()) ThrowType(env, "callback must be a function");
    poller_ = std::make_unique<EventPoller>(env, info[1].As<Napi::Function>(), [this] { return ring_buffer__consume(rb_); });
    rb_ = ring_buffer__new(fd, OnSample, this, nullptr);
    if (!rb_) ThrowErrno(env, "ring_buffer__new", errno);
    int err = poller_->Start(ring_buffer__epoll_fd(rb_));
    if (err) {
      ring_buffer__free(rb_);
      rb_ = nullptr;
      ThrowErrno(env, "uv_poll_start", -err);
    }
    Ref();  // alive while open, like a socket: closing is explicit
  }
  ~NativeRingBuffer() override { Release(); }

  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeRingBuffer",
                       {InstanceMethod<&NativeRingBuffer::Consume>("consume"),
                        InstanceMethod<&NativeRingBuffer::Close>("close"),
                        InstanceMethod<&NativeRingBuffer::SetRef>("setRef")});
  }

 private:
  static int OnSample(void* ctx, void* data, size_t size) {
    static_cast<NativeRingBuffer*>(ctx)->poller_->Add(data, static_cast<uint32_t>(size), 0xffffffffu);
    return 0;
  }

  void Release() {
    if (!rb_) return;
    poller_->Stop();
    ring_buffer__free(rb_);
    rb_ = nullptr;
  }

  Napi::Value Consume(const Napi::CallbackInfo& info) {
    if (!rb_) ThrowErrno(info.Env(), "ring buffer is closed", EBADF);
    int n = poller_->DrainAndDeliver();
    if (n < 0) ThrowErrno(info.Env(), "ring_buffer__consume", -n);
    return Napi::Number::New(info.Env(), n);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (rb_) {
      Release();
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    poller_->SetRef(info.Length() > 0 && info[0].ToBoolean());
    return info.Env().Undefined();
  }

  ring_buffer* rb_ = nullptr;
  std::unique_ptr<EventPoller> poller_;
};

Napi::Function InitRingBuffer(Napi::Env env) { return NativeRingBuffer::Init(env); }

}  // namespace nbpf
