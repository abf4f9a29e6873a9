// BPF_MAP_TYPE_PERF_EVENT_ARRAY consumer over libbpf's perf_buffer, with lost counts.
// The samples of one drain are copied into one Buffer for one JS callback (per-record JS
// calls would dominate the cost at high event rates); TS splits it (src/perf-buffer.ts).
#include "event_poller.h"

#include <cerrno>

namespace nbpf {

class NativePerfBuffer : public Napi::ObjectWrap<NativePerfBuffer> {
 public:
  static constexpr napi_type_tag kTag{0x6e627066'70657266ULL, 0x8a1c'4f0e'93d2'0006ULL};
  static constexpr const char* kName = "NativePerfBuffer";
  // new NativePerfBuffer(mapFd, pagesPerCpu, callback(bytes, meta, lost, errno))
  explicit NativePerfBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativePerfBuffer>(info) {
    TagInstance<NativePerfBuffer>(info);
    Napi::Env env = info.Env();
    int fd = ArgI32(info, 0, "map fd");
    uint32_t pages = ArgU32(info, 1, "pagesPerCpu");
    if (info.Length() < 3 || !info[2].IsFunction()) ThrowType(env, "callback must be a function");
    pb_ = perf_buffer__new(fd, pages, OnSample, OnLost, this, nullptr);
    if (!pb_) ThrowErrno(env, "perf_buffer__new", errno);
    callback_ = Napi::Persistent(info[2].As<Napi::Function>());
    int err = 0;
    poller_ = EventPoller::Start(env, perf_buffer__epoll_fd(pb_), [this] { OnReady(); }, [this] { Release(); }, &err);
    if (!poller_) {
      Release();
      ThrowErrno(env, "uv_poll_start", -err);
    }
    Ref();
  }
  ~NativePerfBuffer() override { Release(); }

  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativePerfBuffer",
                       {Method<NativePerfBuffer, &NativePerfBuffer::Consume>("consume"),
                        Method<NativePerfBuffer, &NativePerfBuffer::Close>("close"),
                        Method<NativePerfBuffer, &NativePerfBuffer::Pause>("pause"),
                        Method<NativePerfBuffer, &NativePerfBuffer::Resume>("resume"),
                        Method<NativePerfBuffer, &NativePerfBuffer::SetRef>("setRef")});
  }

 private:
  static void OnSample(void* ctx, int cpu, void* data, __u32 size) {
    auto* self = static_cast<NativePerfBuffer*>(ctx);
    self->meta_.push_back(static_cast<uint32_t>(self->bytes_.size()));
    self->meta_.push_back(size);
    self->meta_.push_back(static_cast<uint32_t>(cpu));
    const uint8_t* p = static_cast<const uint8_t*>(data);
    self->bytes_.insert(self->bytes_.end(), p, p + size);
  }
  static void OnLost(void* ctx, int cpu, __u64 count) { static_cast<NativePerfBuffer*>(ctx)->lost_ += count; }

  // Drains every CPU's ring into one batch, the callback's (bytes, meta, lost, errno);
  // false when there is nothing to tell. `*n` is the sample count.
  bool TakeBatch(Napi::Env env, std::vector<napi_value>* args, size_t* n) {
    int rc = perf_buffer__consume(pb_);
    *n = meta_.size() / 3;
    if (*n == 0 && lost_ == 0 && rc >= 0) return false;
    auto bytes = Napi::Buffer<uint8_t>::Copy(env, bytes_.data(), bytes_.size());
    auto meta = Napi::Uint32Array::New(env, meta_.size());
    std::copy(meta_.begin(), meta_.end(), meta.Data());
    *args = {bytes, meta, Napi::Number::New(env, static_cast<double>(lost_)), Napi::Number::New(env, rc < 0 ? -rc : 0)};
    bytes_.clear();
    meta_.clear();
    lost_ = 0;
    return true;
  }

  void OnReady() {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    std::vector<napi_value> args;
    size_t n;
    if (TakeBatch(env, &args, &n)) CallFromLoop(env, callback_, args);
  }

  void Release() {
    if (poller_) {
      poller_->Stop();
      poller_ = nullptr;
    }
    if (pb_) perf_buffer__free(pb_);
    pb_ = nullptr;
  }

  // Synchronous delivery through the same callback; what it throws goes to the caller.
  Napi::Value Consume(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!pb_) ThrowErrno(env, "perf buffer is closed", EBADF);
    std::vector<napi_value> args;
    size_t n = 0;
    if (TakeBatch(env, &args, &n)) callback_.Call(args);
    return Napi::Number::New(env, static_cast<double>(n));
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (pb_) {
      Release();
      Unref();
    }
    return info.Env().Undefined();
  }

  Napi::Value Pause(const Napi::CallbackInfo& info) {
    if (poller_) poller_->Pause();
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    int err = poller_ ? poller_->Resume() : 0;
    if (err) ThrowErrno(info.Env(), "uv_poll_start", -err);
    return info.Env().Undefined();
  }

  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    if (poller_) poller_->SetRef(info.Length() > 0 && info[0].ToBoolean());
    return info.Env().Undefined();
  }

  perf_buffer* pb_ = nullptr;
  Napi::FunctionReference callback_;
  EventPoller* poller_ = nullptr;
  std::vector<uint8_t> bytes_;
  std::vector<uint32_t> meta_;  // (offset, length, cpu) per sample
  uint64_t lost_ = 0;
};

Napi::Function InitPerfBuffer(Napi::Env env) { return NativePerfBuffer::Init(env); }

}  // namespace nbpf
