// bpf_link handles: destroy() detaches; the destructor and the cleanup hook are safety nets.
#include "common.h"

namespace nbpf {

NativeLink::NativeLink(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLink>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) ThrowType(info.Env(), "NativeLink is created by attach calls only");
  link_ = info[0].As<Napi::External<bpf_link>>().Data();
  GetData(info.Env())->liveLinks.insert(this);
}

NativeLink::~NativeLink() { Release(); }

void NativeLink::Release() {
  if (!link_) return;
  bpf_link__destroy(link_);
  link_ = nullptr;
  GetData(Env())->liveLinks.erase(this);
}

Napi::Value NativeLink::Destroy(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value NativeLink::Fd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), link_ ? bpf_link__fd(link_) : -1);
}

Napi::Object WrapLink(Napi::Env env, bpf_link* link) {
  return GetData(env)->linkCtor.New({Napi::External<bpf_link>::New(env, link)});
}

Napi::Function InitLink(Napi::Env env) {
  Napi::Function ctor = NativeLink::DefineClass(env, "NativeLink",
                                                {NativeLink::InstanceMethod<&NativeLink::Destroy>("destroy"),
                                                 NativeLink::InstanceMethod<&NativeLink::Fd>("fd")});
  GetData(env)->linkCtor = Napi::Persistent(ctor);
  return ctor;
}

}  // namespace nbpf
