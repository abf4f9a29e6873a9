// BPF_MAP_TYPE_RINGBUF consumer, mechanism only: maps the ring's pages into external
// ArrayBuffers and says when the map fd polls readable. TypeScript walks the records
// (src/ring-buffer.ts), so no record crosses into native code.
//
// The kernel's layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position, the
// only page user space may write; from page 1 on, read-only, the producer position's page
// and then the data, which the kernel maps twice in a row so that a record that wraps
// around the end is still contiguous in memory.
#include "event_poller.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace nbpf {

class NativeRingBuffer : public Napi::ObjectWrap<NativeRingBuffer> {
 public:
  static constexpr napi_type_tag kTag{0x6e627066'72696e67ULL, 0x8a1c'4f0e'93d2'0005ULL};
  static constexpr const char* kName = "NativeRingBuffer";
  // new NativeRingBuffer(mapFd, onReadable())
  explicit NativeRingBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeRingBuffer>(info) {
    TagInstance<NativeRingBuffer>(info);
    Napi::Env env = info.Env();
    int mapFd = ArgI32(info, 0, "map fd");
    if (info.Length() < 2 || !info[1].IsFunction()) ThrowType(env, "callback must be a function");
    bpf_map_info mapInfo{};
    __u32 len = sizeof(mapInfo);
    if (bpf_obj_get_info_by_fd(mapFd, &mapInfo, &len)) ThrowErrno(env, "bpf_obj_get_info_by_fd", errno);
    if (mapInfo.type != BPF_MAP_TYPE_RINGBUF) ThrowErrno(env, "ring buffer map type", EINVAL);
    pageSize_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    dataSize_ = mapInfo.max_entries;
    // Our own fd: the map's owner may close its fd while we still poll and map it.
    fd_ = fcntl(mapFd, F_DUPFD_CLOEXEC, 3);
    if (fd_ < 0) ThrowErrno(env, "fcntl(F_DUPFD_CLOEXEC)", errno);
    try {
      Map(env);
      callback_ = Napi::Persistent(info[1].As<Napi::Function>());
      int err = 0;
      poller_ = EventPoller::Start(env, fd_, [this] { CallFromLoop(Env(), callback_, {}); }, [this] { Release(); }, &err,
                                   /*edge=*/true);
      if (!poller_) ThrowErrno(env, "uv_poll_start", -err);
    } catch (...) {
      Release();
      throw;
    }
    Ref();  // alive while open, like a socket: closing is explicit
  }
  ~NativeRingBuffer() override { Release(); }

  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeRingBuffer",
                       {Method<NativeRingBuffer, &NativeRingBuffer::Regions>("regions"),
                        Method<NativeRingBuffer, &NativeRingBuffer::Close>("close"),
                        Method<NativeRingBuffer, &NativeRingBuffer::Pause>("pause"),
                        Method<NativeRingBuffer, &NativeRingBuffer::Resume>("resume"),
                        Method<NativeRingBuffer, &NativeRingBuffer::Again>("again"),
                        Method<NativeRingBuffer, &NativeRingBuffer::SetRef>("setRef")});
  }

 private:
  void Map(Napi::Env env) {
    consumer_ = mmap(nullptr, pageSize_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (consumer_ == MAP_FAILED) {
      consumer_ = nullptr;
      ThrowErrno(env, "mmap(ring buffer consumer page)", errno);
    }
    producerBytes_ = pageSize_ + 2 * static_cast<size_t>(dataSize_);
    producer_ = mmap(nullptr, producerBytes_, PROT_READ, MAP_SHARED, fd_, static_cast<off_t>(pageSize_));
    if (producer_ == MAP_FAILED) {
      producer_ = nullptr;
      ThrowErrno(env, "mmap(ring buffer data pages)", errno);
    }
    // No finalizer: the memory is ours until Release(), which detaches these first.
    consumerAb_ = Napi::Persistent(Napi::ArrayBuffer::New(env, consumer_, pageSize_));
    producerAb_ = Napi::Persistent(Napi::ArrayBuffer::New(env, producer_, producerBytes_));
  }

  // Detaching first: a JS view left over then reads as empty instead of unmapped memory.
  void Release() {
    if (poller_) {
      poller_->Stop();
      poller_ = nullptr;
    }
    Detach(consumerAb_);
    Detach(producerAb_);
    if (consumer_) munmap(consumer_, pageSize_);
    if (producer_) munmap(producer_, producerBytes_);
    consumer_ = producer_ = nullptr;
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  void Detach(Napi::Reference<Napi::ArrayBuffer>& ref) {
    if (ref.IsEmpty()) return;
    napi_env env = Env();
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) == napi_ok) {
      napi_value ab;
      if (napi_get_reference_value(env, ref, &ab) == napi_ok && ab) napi_detach_arraybuffer(env, ab);
      napi_close_handle_scope(env, scope);
    }
    ref.Reset();
  }

  Napi::Value Regions(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!poller_) ThrowErrno(env, "ring buffer is closed", EBADF);
    Napi::Object o = Napi::Object::New(env);
    o.Set("consumer", consumerAb_.Value());
    o.Set("producer", producerAb_.Value());
    o.Set("dataOffset", Napi::Number::New(env, static_cast<double>(pageSize_)));
    o.Set("dataSize", Napi::Number::New(env, static_cast<double>(dataSize_)));
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (poller_) {
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

  // Another drain in the loop's next turn (see event_poller.h: edge-triggered wake-ups).
  Napi::Value Again(const Napi::CallbackInfo& info) {
    if (poller_) poller_->Again();
    return info.Env().Undefined();
  }

  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    if (poller_) poller_->SetRef(info.Length() > 0 && info[0].ToBoolean());
    return info.Env().Undefined();
  }

  int fd_ = -1;
  size_t pageSize_ = 0;
  uint32_t dataSize_ = 0;
  void* consumer_ = nullptr;
  void* producer_ = nullptr;
  size_t producerBytes_ = 0;
  Napi::Reference<Napi::ArrayBuffer> consumerAb_;
  Napi::Reference<Napi::ArrayBuffer> producerAb_;
  Napi::FunctionReference callback_;
  EventPoller* poller_ = nullptr;
};

Napi::Function InitRingBuffer(Napi::Env env) { return NativeRingBuffer::Init(env); }

}  // namespace nbpf
