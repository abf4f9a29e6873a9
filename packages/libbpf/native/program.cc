// Program setters before load, test runs and attachment after load.
#include "common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace nbpf {

Napi::Value NativeObject::ProgSetAutoload(const Napi::CallbackInfo& info) {
  bpf_program* p = ProgAt(info, 0);
  if (info.Length() < 2 || !info[1].IsBoolean()) ThrowType(info.Env(), "autoload must be a boolean");
  int err = bpf_program__set_autoload(p, info[1].As<Napi::Boolean>().Value());
  if (err) ThrowErrno(info.Env(), "bpf_program__set_autoload", -err);
  return info.Env().Undefined();
}

Napi::Value NativeObject::ProgFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bpf_program__fd(ProgAt(info, 0)));
}

// progTestRun(index, ctxIn|null, dataIn|null, repeat, ctxOutBytes, dataOutBytes, flags, cpu)
//   -> {retval, durationNs, ctxOut|null, dataOut|null}
Napi::Value NativeObject::ProgTestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = bpf_program__fd(ProgAt(info, 0));
  LIBBPF_OPTS(bpf_test_run_opts, o);
  if (!ArgIsNullish(info, 1)) {
    auto ctx = ArgBuffer(info, 1, "ctxIn");
    o.ctx_in = ctx.Data();
    o.ctx_size_in = ctx.Length();
  }
  if (!ArgIsNullish(info, 2)) {
    auto data = ArgBuffer(info, 2, "dataIn");
    o.data_in = data.Data();
    o.data_size_in = data.Length();
  }
  o.repeat = ArgU32(info, 3, "repeat");
  uint32_t ctxOutBytes = ArgU32(info, 4, "ctxOutBytes");
  uint32_t dataOutBytes = ArgU32(info, 5, "dataOutBytes");
  o.flags = ArgU32(info, 6, "flags");
  o.cpu = ArgU32(info, 7, "cpu");
  Napi::Buffer<uint8_t> ctxOut, dataOut;
  if (ctxOutBytes) {
    ctxOut = Napi::Buffer<uint8_t>::New(env, ctxOutBytes);
    o.ctx_out = ctxOut.Data();
    o.ctx_size_out = ctxOutBytes;
  }
  if (dataOutBytes) {
    dataOut = Napi::Buffer<uint8_t>::New(env, dataOutBytes);
    o.data_out = dataOut.Data();
    o.data_size_out = dataOutBytes;
  }
  int err = bpf_prog_test_run_opts(fd, &o);
  if (err) ThrowErrno(env, "bpf_prog_test_run", errno ? errno : -err);
  Napi::Object r = Napi::Object::New(env);
  r.Set("retval", Napi::Number::New(env, o.retval));
  r.Set("durationNs", Napi::Number::New(env, o.duration));
  r.Set("ctxOut", ctxOutBytes ? Napi::Value(ctxOut.Get("subarray").As<Napi::Function>().Call(ctxOut, {Napi::Number::New(env, 0), Napi::Number::New(env, o.ctx_size_out)})) : env.Null());
  r.Set("dataOut", dataOutBytes ? Napi::Value(dataOut.Get("subarray").As<Napi::Function>().Call(dataOut, {Napi::Number::New(env, 0), Napi::Number::New(env, o.data_size_out)})) : env.Null());
  return r;
}

static Napi::Value LinkOrThrow(Napi::Env env, bpf_link* link, const char* op) {
  if (!link) ThrowErrno(env, op, errno);
  return WrapLink(env, link);
}

Napi::Value NativeObject::ProgAttach(const Napi::CallbackInfo& info) {
  return LinkOrThrow(info.Env(), bpf_program__attach(ProgAt(info, 0)), "bpf_program__attach");
}

Napi::Value NativeObject::ProgAttachTracepoint(const Napi::CallbackInfo& info) {
  bpf_program* p = ProgAt(info, 0);
  std::string category = ArgString(info, 1, "category");
  std::string name = ArgString(info, 2, "name");
  return LinkOrThrow(info.Env(), bpf_program__attach_tracepoint(p, category.c_str(), name.c_str()),
                     "bpf_program__attach_tracepoint");
}

Napi::Value NativeObject::ProgAttachRawTracepoint(const Napi::CallbackInfo& info) {
  bpf_program* p = ProgAt(info, 0);
  std::string name = ArgString(info, 1, "name");
  return LinkOrThrow(info.Env(), bpf_program__attach_raw_tracepoint(p, name.c_str()),
                     "bpf_program__attach_raw_tracepoint");
}

// progAttachPerfEvent(index, perfEvent: NativeFd). The link owns a duplicate of the
// event's fd (libbpf closes it on destroy), so the handle and the link close independently.
Napi::Value NativeObject::ProgAttachPerfEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_program* p = ProgAt(info, 0);
  if (info.Length() < 2) ThrowType(env, "missing argument: perfEvent");
  int fd = UnwrapTagged<NativeFd>(env, info[1], "perfEvent")->Get();
  if (fd < 0) ThrowErrno(env, "bpf_program__attach_perf_event (the perf event is closed)", EBADF);
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) ThrowErrno(env, "fcntl(F_DUPFD_CLOEXEC) of the perf event", errno);
  bpf_link* link = bpf_program__attach_perf_event(p, dup);
  if (!link) {
    int err = errno;
    close(dup);
    ThrowErrno(env, "bpf_program__attach_perf_event", err);
  }
  return WrapLink(env, link);
}

}  // namespace nbpf
