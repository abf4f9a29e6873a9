// Shared declarations of the native layer. The native layer is deliberately thin:
// each function wraps one libbpf call or syscall, checks its arguments' shapes and
// lengths, and reports errno. Every decision (defaults, policy, messages) lives in
// TypeScript.
#pragma once

// During environment teardown (a Worker terminated) JS cannot run, and node-addon-api
// would turn the failed throw into std::terminate; swallowing it is all that can be done.
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <napi.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace nbpf {

class NativeObject;
class NativeLink;
class NativeGridRunner;
class NativeFd;

// Per-environment state: constructors, the JS error factory handed in by TS, libbpf's
// messages of calls made on this environment's JS thread, and what its cleanup releases.
struct AddonData {
  ~AddonData();
  Napi::FunctionReference errorFactory;  // (op, errno, message) => Error
  Napi::FunctionReference linkCtor;
  Napi::FunctionReference fdCtor;
  // Handed from WrapLink/WrapFd to the constructor, so JS cannot make handles of its own.
  bpf_link* pendingLink = nullptr;
  int pendingFd = -1;
  // Only this environment's JS thread appends (the print callback finds it through a
  // thread_local) and drains, so it needs no lock.
  std::deque<std::pair<int, std::string>> log;
  // Messages above this level are not even formatted (set around a call that asks so).
  int logCapture = LIBBPF_DEBUG;
  std::set<NativeObject*> liveObjects;   // closed by the env cleanup hook
  std::set<NativeLink*> liveLinks;
  std::set<NativeGridRunner*> liveGridRunners;  // stopped (threads joined) by the hook
  std::set<NativeFd*> liveFds;
  // Files written by the cleanup hook unless cancelled first (sys.cc).
  std::map<uint32_t, std::pair<std::string, std::string>> teardownWrites;
  uint32_t nextTeardownWrite = 1;
};

// ---- type tags ------------------------------------------------------------------------
// Every wrapped class has a napi type tag (`static constexpr napi_type_tag kTag`) and a
// `static constexpr const char* kName`, and tags its instances (TagInstance, first thing in
// the constructor). An argument that must be a wrapped object is taken with
// UnwrapTagged<T>, so passing another kind (or a plain object) is a TypeError instead of a
// wild pointer. Methods are registered with Method<T, &T::F>: `this` needs no tag check
// (napi_define_class gives prototype methods a V8 signature, which throws "Illegal
// invocation" for a receiver not made by the class; the check would cost ~60 ns a call),
// only the unwrap, which fails for an instance whose construction threw.

// Tags `info.This()` as a T; call first in T's constructor.
template <typename T>
void TagInstance(const Napi::CallbackInfo& info) {
  napi_type_tag_object(info.Env(), info.This(), &T::kTag);
}

// The T that `v` wraps; a TypeError naming `what` when `v` is not a live T.
template <typename T>
T* UnwrapTagged(Napi::Env env, Napi::Value v, const char* what) {
  bool tagged = false;
  if (v.IsObject()) napi_check_object_type_tag(env, v, &T::kTag, &tagged);
  T* self = tagged ? Napi::ObjectWrap<T>::Unwrap(v.As<Napi::Object>()) : nullptr;
  if (!self) throw Napi::TypeError::New(env, std::string(what) + " must be a " + T::kName);
  return self;
}

template <typename T, Napi::Value (T::*M)(const Napi::CallbackInfo&)>
napi_value InvokeTagged(napi_env env, napi_callback_info cbinfo) {
  try {
    Napi::CallbackInfo info(env, cbinfo);
    T* self = Napi::ObjectWrap<T>::Unwrap(info.This().As<Napi::Object>());
    if (!self) throw Napi::TypeError::New(info.Env(), std::string("this must be a live ") + T::kName);
    return (self->*M)(info);
  } catch (const Napi::Error& e) {
    try {
      e.ThrowAsJavaScriptException();
    } catch (...) {
    }
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

// An instance method of T (see above for what is checked of `this`).
template <typename T, Napi::Value (T::*M)(const Napi::CallbackInfo&)>
Napi::ClassPropertyDescriptor<T> Method(const char* name) {
  napi_property_descriptor d{name, nullptr, &InvokeTagged<T, M>, nullptr, nullptr, nullptr, napi_default_method, nullptr};
  return Napi::ClassPropertyDescriptor<T>(d);
}

// An AsyncWorker whose completion is safe during environment teardown: OnOK runs only
// when it can, nothing it throws escapes (that would be std::terminate), and the worker
// is always deleted. Subclasses report failures through their own fields, not SetError.
class SafeAsyncWorker : public Napi::AsyncWorker {
 public:
  using Napi::AsyncWorker::AsyncWorker;

 protected:
  // Called instead of OnOK when the work never ran (cancelled): release what it owns.
  virtual void OnCancelled() {}

 private:
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    if (status == napi_cancelled) {
      OnCancelled();
    } else {
      try {
        Napi::HandleScope scope(env);
        OnOK();
      } catch (...) {
        // The environment is going away: there is nobody left to tell.
      }
    }
    Destroy();
  }
};

AddonData* GetData(Napi::Env env);

// The TS error class (BpfError) built by the factory, for rejecting a promise.
Napi::Value ErrnoError(Napi::Env env, const std::string& op, int err);
// Throws the TS error class (BpfError) built by the factory; `err` is a positive errno.
[[noreturn]] void ThrowErrno(Napi::Env env, const std::string& op, int err);

// Raw N-API results of the bound per-map functions (map.cc, map_batch.cc), which skip
// node-addon-api's wrappers on their hot path: undefined for 0, else the errno as a number.
inline napi_value Errno(napi_env env, int err) {
  if (err == 0) return nullptr;  // undefined
  napi_value e;
  napi_create_uint32(env, static_cast<uint32_t>(err), &e);
  return e;
}

// Throws a TypeError from a raw N-API callback; returns the undefined it then returns.
inline napi_value ThrowTypeError(napi_env env, const char* message) {
  napi_throw_type_error(env, nullptr, message);
  return nullptr;
}
// Throws a TypeError for a malformed argument (a bug in the TS layer or a direct caller).
[[noreturn]] void ThrowType(Napi::Env env, const std::string& message);

// Argument helpers that type-check before use.
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* what);
int32_t ArgI32(const Napi::CallbackInfo& info, size_t i, const char* what);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what);
Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* what);
bool ArgIsNullish(const Napi::CallbackInfo& info, size_t i);
// A libbpf string as JS: "" for NULL (a damaged object can lack a name), which
// Napi::String::New would turn into a bare "Error in native callback".
Napi::String Str(Napi::Env env, const char* s);

Napi::Function InitObject(Napi::Env env);
Napi::Function InitLink(Napi::Env env);
Napi::Function InitRingBuffer(Napi::Env env);
Napi::Function InitPerfBuffer(Napi::Env env);
Napi::Function InitGridRunner(Napi::Env env);
Napi::Function InitFd(Napi::Env env);
// Stops a grid runner's thread and waits for it (grid.cc).
void ReleaseGridRunner(NativeGridRunner* runner);
void InitLog(Napi::Env env, Napi::Object exports);
void InitCpu(Napi::Env env, Napi::Object exports);
void InitSys(Napi::Env env, Napi::Object exports);
// Writes the files registered with writeAtTeardown (sys.cc); the env cleanup hook's last step.
void RunTeardownWrites(AddonData* data);

// Creates a JS link handle owning `link`.
Napi::Object WrapLink(Napi::Env env, bpf_link* link);
// Creates a JS fd handle owning `fd` (sys.cc).
Napi::Object WrapFd(Napi::Env env, int fd);

class NativeLink : public Napi::ObjectWrap<NativeLink> {
 public:
  static constexpr napi_type_tag kTag{0x6e627066'6c696e6bULL, 0x8a1c'4f0e'93d2'0001ULL};
  static constexpr const char* kName = "NativeLink";
  explicit NativeLink(const Napi::CallbackInfo& info);
  ~NativeLink() override;
  void Release();
  // Hands the link to the caller (closeAsync detaches it off the JS thread).
  bpf_link* Take();

 private:
  friend Napi::Function InitLink(Napi::Env env);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value DestroyAsync(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  bpf_link* link_ = nullptr;
};

// An fd this addon opened (perf_event_open, a duplicate) and owns: closed by close(), the
// finalizer or the env cleanup hook, each at most once; `fd()` only lends the number.
class NativeFd : public Napi::ObjectWrap<NativeFd> {
 public:
  static constexpr napi_type_tag kTag{0x6e627066'66645f5fULL, 0x8a1c'4f0e'93d2'0004ULL};
  static constexpr const char* kName = "NativeFd";
  explicit NativeFd(const Napi::CallbackInfo& info);
  ~NativeFd() override;
  void Release();
  // The fd, or -1 once closed.
  int Get() const { return fd_; }

 private:
  friend Napi::Function InitFd(Napi::Env env);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value FdNumber(const Napi::CallbackInfo& info);
  int fd_ = -1;
};

class NativeObject : public Napi::ObjectWrap<NativeObject> {
 public:
  static constexpr napi_type_tag kTag{0x6e627066'6f626a5fULL, 0x8a1c'4f0e'93d2'0002ULL};
  static constexpr const char* kName = "NativeObject";
  explicit NativeObject(const Napi::CallbackInfo& info);
  ~NativeObject() override;
  void Release();

  // Looks up a map/program by its index in the object's listing; throws when closed.
  bpf_map* MapAt(const Napi::CallbackInfo& info, size_t argIndex);
  bpf_program* ProgAt(const Napi::CallbackInfo& info, size_t argIndex);
  bpf_object* Raw(Napi::Env env);
  bool IsOpen() const { return obj_ != nullptr; }

 private:
  friend Napi::Function InitObject(Napi::Env env);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  Napi::Value Programs(const Napi::CallbackInfo& info);
  // map.cc
  Napi::Value MapReuseFd(const Napi::CallbackInfo& info);
  Napi::Value MapSetMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value MapSetValueSize(const Napi::CallbackInfo& info);
  Napi::Value MapFd(const Napi::CallbackInfo& info);
  Napi::Value MapNextKey(const Napi::CallbackInfo& info);
  Napi::Value MapReadData(const Napi::CallbackInfo& info);
  Napi::Value MapWriteData(const Napi::CallbackInfo& info);
  // map.cc (fast op), map_batch.cc, map_mmap.cc
  Napi::Value MapFastOp(const Napi::CallbackInfo& info);
  Napi::Value MapBatchOp(const Napi::CallbackInfo& info);
  Napi::Value MapMmap(const Napi::CallbackInfo& info);
  Napi::Value MapUnmap(const Napi::CallbackInfo& info);
  // program.cc
  Napi::Value ProgSetAutoload(const Napi::CallbackInfo& info);
  Napi::Value ProgFd(const Napi::CallbackInfo& info);
  Napi::Value ProgTestRun(const Napi::CallbackInfo& info);
  Napi::Value ProgAttach(const Napi::CallbackInfo& info);
  Napi::Value ProgAttachTracepoint(const Napi::CallbackInfo& info);
  Napi::Value ProgAttachRawTracepoint(const Napi::CallbackInfo& info);
  Napi::Value ProgAttachPerfEvent(const Napi::CallbackInfo& info);
  Napi::Value ProgRunOnCpus(const Napi::CallbackInfo& info);
  // btf.cc
  Napi::Value BtfDatasec(const Napi::CallbackInfo& info);
  Napi::Value BtfType(const Napi::CallbackInfo& info);

  uint8_t* DataRegion(Napi::Env env, size_t index, bool forWrite, size_t* size);
  void MapDataSections(Napi::Env env);

  bpf_object* obj_ = nullptr;
  bool loaded_ = false;
  std::vector<bpf_map*> maps_;
  std::vector<bpf_program*> progs_;
  // After load, .bss/.data are mmapped from the kernel map so that writes are seen by
  // running programs (libbpf 1.1's bpf_object__load does not remap them itself).
  struct Mapping {
    void* addr = nullptr;
    size_t size = 0;
    bool writable = false;
  };
  std::vector<Mapping> mmaps_;  // indexed like maps_
  std::vector<uint8_t> elf_;     // open_mem reads the ELF until load

};

}  // namespace nbpf
