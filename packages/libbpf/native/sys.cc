// The few syscalls libbpf does not wrap and the binding needs.
#include "common.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nbpf {

static uint64_t U64Field(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return 0;
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (!v.IsNumber()) ThrowType(o.Env(), std::string(key) + " must be a number or bigint");
  return static_cast<uint64_t>(v.As<Napi::Number>().Int64Value());
}

// perfEventOpen({type, config, samplePeriod, sampleFreq, wakeupEvents, disabled}, pid, cpu) -> fd
static Napi::Value PerfEventOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) ThrowType(env, "attr must be an object");
  Napi::Object a = info[0].As<Napi::Object>();
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = static_cast<uint32_t>(U64Field(a, "type"));
  attr.config = U64Field(a, "config");
  uint64_t freq = U64Field(a, "sampleFreq");
  if (freq) {
    attr.freq = 1;
    attr.sample_freq = freq;
  } else {
    attr.sample_period = U64Field(a, "samplePeriod");
  }
  attr.wakeup_events = static_cast<uint32_t>(U64Field(a, "wakeupEvents"));
  attr.disabled = U64Field(a, "disabled") ? 1 : 0;
  int pid = ArgI32(info, 1, "pid");
  int cpu = ArgI32(info, 2, "cpu");
  long fd = syscall(__NR_perf_event_open, &attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) ThrowErrno(env, "perf_event_open", errno);
  return WrapFd(env, static_cast<int>(fd));
}

// dupFd(fd) -> NativeFd owning a new close-on-exec descriptor for the same open file
static Napi::Value DupFd(const Napi::CallbackInfo& info) {
  int fd = fcntl(ArgI32(info, 0, "fd"), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(info.Env(), "fcntl(F_DUPFD_CLOEXEC)", errno);
  return WrapFd(info.Env(), fd);
}

// ---- owned fds ----------------------------------------------------------------------

NativeFd::NativeFd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeFd>(info) {
  TagInstance<NativeFd>(info);
  AddonData* data = GetData(info.Env());
  if (data->pendingFd < 0) ThrowType(info.Env(), "NativeFd is created by perfEventOpen and dupFd only");
  fd_ = data->pendingFd;
  data->pendingFd = -1;
  data->liveFds.insert(this);
}

NativeFd::~NativeFd() { Release(); }

void NativeFd::Release() {
  if (fd_ < 0) return;
  close(fd_);
  fd_ = -1;
  GetData(Env())->liveFds.erase(this);
}

Napi::Value NativeFd::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value NativeFd::FdNumber(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Object WrapFd(Napi::Env env, int fd) {
  AddonData* data = GetData(env);
  data->pendingFd = fd;
  try {
    return data->fdCtor.New({});
  } catch (...) {
    if (data->pendingFd >= 0) close(data->pendingFd);
    data->pendingFd = -1;
    throw;
  }
}

Napi::Function InitFd(Napi::Env env) {
  Napi::Function ctor = NativeFd::DefineClass(env, "NativeFd",
                                              {Method<NativeFd, &NativeFd::Close>("close"),
                                               Method<NativeFd, &NativeFd::FdNumber>("fd")});
  GetData(env)->fdCtor = Napi::Persistent(ctor);
  return ctor;
}

// ---- writes at environment teardown --------------------------------------------------
// A setting changed for a while (kernel.timer_migration) must be put back even when the
// environment ends without running JS again (Worker.terminate()). TS registers the file
// and the bytes that restore it; the cleanup hook writes them; TS cancels when it restored
// the setting itself.

// writeAtTeardown(path, bytes: string) -> id
static Napi::Value WriteAtTeardown(const Napi::CallbackInfo& info) {
  AddonData* data = GetData(info.Env());
  std::string path = ArgString(info, 0, "path");
  std::string bytes = ArgString(info, 1, "bytes");
  uint32_t id = data->nextTeardownWrite++;
  data->teardownWrites[id] = {std::move(path), std::move(bytes)};
  return Napi::Number::New(info.Env(), id);
}

// cancelWriteAtTeardown(id) -> whether it was still registered
static Napi::Value CancelWriteAtTeardown(const Napi::CallbackInfo& info) {
  bool had = GetData(info.Env())->teardownWrites.erase(ArgU32(info, 0, "id")) > 0;
  return Napi::Boolean::New(info.Env(), had);
}

void RunTeardownWrites(AddonData* data) {
  for (auto& [id, w] : data->teardownWrites) {
    int fd = open(w.first.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) continue;  // nobody to tell: the next start recovers from its state file
    ssize_t n = write(fd, w.second.data(), w.second.size());
    (void)n;
    close(fd);
  }
  data->teardownWrites.clear();
}

void InitSys(Napi::Env env, Napi::Object exports) {
  exports.Set("perfEventOpen", Napi::Function::New(env, PerfEventOpen));
  exports.Set("dupFd", Napi::Function::New(env, DupFd));
  exports.Set("writeAtTeardown", Napi::Function::New(env, WriteAtTeardown));
  exports.Set("cancelWriteAtTeardown", Napi::Function::New(env, CancelWriteAtTeardown));
}

}  // namespace nbpf
