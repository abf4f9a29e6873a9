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
  return Napi::Number::New(env, static_cast<double>(fd));
}

// dupFd(fd) -> a new close-on-exec descriptor for the same open file
static Napi::Value DupFd(const Napi::CallbackInfo& info) {
  int fd = fcntl(ArgI32(info, 0, "fd"), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) ThrowErrno(info.Env(), "fcntl(F_DUPFD_CLOEXEC)", errno);
  return Napi::Number::New(info.Env(), fd);
}

// closeFd(fd)
static Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  if (close(ArgI32(info, 0, "fd"))) ThrowErrno(info.Env(), "close", errno);
  return info.Env().Undefined();
}

void InitSys(Napi::Env env, Napi::Object exports) {
  exports.Set("perfEventOpen", Napi::Function::New(env, PerfEventOpen));
  exports.Set("dupFd", Napi::Function::New(env, DupFd));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd));
}

}  // namespace nbpf
