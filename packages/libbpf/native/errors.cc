// Errors and argument checks. The error class itself is TypeScript's (BpfError), handed
// in once through setErrorFactory, so native and TS errors are the same type.
#include "common.h"

#include <cstring>

namespace nbpf {

Napi::Value ErrnoError(Napi::Env env, const std::string& op, int err) {
  AddonData* data = GetData(env);
  if (err < 0) err = -err;
  // TS rewords what strerror does not know (libbpf's own codes, 4000 and up).
  std::string message = op + ": " + std::strerror(err);
  if (data->errorFactory.IsEmpty()) return Napi::Error::New(env, message).Value();
  return data->errorFactory.Call(
      {Napi::String::New(env, op), Napi::Number::New(env, err), Napi::String::New(env, message)});
}

void ThrowErrno(Napi::Env env, const std::string& op, int err) {
  throw Napi::Error(env, ErrnoError(env, op, err));
}

void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

static void NeedArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i) ThrowType(info.Env(), std::string("missing argument: ") + what);
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  NeedArg(info, i, what);
  if (!info[i].IsNumber()) ThrowType(info.Env(), std::string(what) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 4294967295.0) || v != static_cast<double>(static_cast<uint64_t>(v)))
    ThrowType(info.Env(), std::string(what) + " must be an integer in 0..2^32-1");
  return static_cast<uint32_t>(v);
}

int32_t ArgI32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  NeedArg(info, i, what);
  if (!info[i].IsNumber()) ThrowType(info.Env(), std::string(what) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= -2147483648.0 && v <= 2147483647.0) || v != static_cast<double>(static_cast<int64_t>(v)))
    ThrowType(info.Env(), std::string(what) + " must be a 32-bit integer");
  return static_cast<int32_t>(v);
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what) {
  NeedArg(info, i, what);
  if (!info[i].IsString()) ThrowType(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* what) {
  NeedArg(info, i, what);
  if (!info[i].IsBuffer()) ThrowType(info.Env(), std::string(what) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

Napi::String Str(Napi::Env env, const char* s) { return Napi::String::New(env, s ? s : ""); }

bool ArgIsNullish(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() <= i || info[i].IsNull() || info[i].IsUndefined();
}

}  // namespace nbpf
