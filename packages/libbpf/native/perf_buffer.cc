// BPF_MAP_TYPE_PERF_EVENT_ARRAY consumer over libbpf's perf_buffer, with lost counts.
#include "event_poller.h"

#include <cerrno>
#include <memory>

namespace nbpf {

class NativePerfBuffer : public Napi::ObjectWrap<NativePerfBuffer> {
 public:
  // new NativePerfBuffer(mapFd, pagesPerCpu, callback(bytes, meta, lost, errno))
  explicit NativePerfBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativePerfBuffer>(info) {
    Napi::Env env = info.Env();
    int fd = ArgI32(info, 0, "map fd");
    uint32_t pages = ArgU32(info, 1, "pagesPerCpu");
    if (info.Length() < 3 || !info[2].IsFunction()) ThrowType(env, "callback must be a function");
    poller_ = std::make_unique<EventPoller>(env, info[2].As<Napi::Function>(), [this] { return perf_buffer__consume(pb_); });
    pb_ = perf_buffer__new(fd, pages, OnSample, OnLost, this, nullptr);
    if (!pb_) ThrowErrno(env, "perf_buffer__new", errno);
    int err = poller_->Start(perf_buffer__epoll_fd(pb_));
    if (err) {
      perf_buffer__free(pb_);
      pb_ = nullptr;
      ThrowErrno(env, "uv_poll_start", -err);
    }
    Ref();
  }
  ~NativePerfBuffer() override { Release(); }

  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativePerfBuffer",
                       {InstanceMethod<&NativePerfBuffer::Consume>("consume"),
                        InstanceMethod<&NativePerfBuffer::Close>("close"),
                        InstanceMethod<&NativePerfBuffer::SetRef>("setRef")});
  }

 private:
  static void OnSample(void* ctx, int cpu, void* data, __u32 size) {
    static_cast<NativePerfBuffer*>(ctx)->poller_->Add(data, size, static_cast<uint32_t>(cpu));
  }
  static void OnLost(void* ctx, int cpu, __u64 count) { static_cast<NativePerfBuffer*>(ctx)->poller_->AddLost(count); }

  void Release() {
    if (!pb_) return;
    poller_->Stop();
    perf_buffer__free(pb_);
    pb_ = nullptr;
  }

  Napi::Value Consume(const Napi::CallbackInfo& info) {
    if (!pb_) ThrowErrno(info.Env(), "perf buffer is closed", EBADF);
    int n = poller_->DrainAndDeliver();
    if (n < 0) ThrowErrno(info.Env(), "perf_buffer__consume", -n);
    return Napi::Number::New(info.Env(), n);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (pb_) {
      Release();
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    poller_->SetRef(info.Length() > 0 && info[0].ToBoolean());
    return info.Env().Undefined();
  }

  perf_buffer* pb_ = nullptr;
  std::unique_ptr<EventPoller> poller_;
};

Napi::Function InitPerfBuffer(Napi::Env env) { return NativePerfBuffer::Init(env); }

}  // namespace nbpf
