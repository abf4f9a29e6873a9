// bpf_link handles: destroy() detaches; destroyAsync() detaches on the thread pool (a
// tracepoint detach waits for RCU grace periods, tens of ms); the destructor and the
// cleanup hook are safety nets.
#include "common.h"

#include <cstring>

namespace nbpf {

namespace {

// Detaching closes the link's fds; the kernel's wait for the grace period happens in the
// thread that closes, so that thread is a pool thread, not the JS thread.
class DestroyLinkWorker : public SafeAsyncWorker {
 public:
  DestroyLinkWorker(Napi::Env env, bpf_link* link)
      : SafeAsyncWorker(env, "bpf:linkDestroy"), deferred_(Napi::Promise::Deferred::New(env)), link_(link) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    err_ = bpf_link__destroy(link_);
    link_ = nullptr;
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_) deferred_.Reject(ErrnoError(env, "bpf_link__destroy", err_));
    else deferred_.Resolve(env.Undefined());
  }

  void OnCancelled() override {
    if (link_) bpf_link__destroy(link_);
    link_ = nullptr;
  }

 private:
  Napi::Promise::Deferred deferred_;
  bpf_link* link_;
  int err_ = 0;
};

}  // namespace

NativeLink::NativeLink(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLink>(info) {
  TagInstance<NativeLink>(info);
  AddonData* data = GetData(info.Env());
  if (!data->pendingLink) ThrowType(info.Env(), "NativeLink is created by attach calls only");
  link_ = data->pendingLink;
  data->pendingLink = nullptr;
  data->liveLinks.insert(this);
}

NativeLink::~NativeLink() { Release(); }

void NativeLink::Release() {
  bpf_link* l = Take();
  if (l) bpf_link__destroy(l);
}

bpf_link* NativeLink::Take() {
  bpf_link* l = link_;
  if (!l) return nullptr;
  link_ = nullptr;
  GetData(Env())->liveLinks.erase(this);
  return l;
}

Napi::Value NativeLink::Destroy(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

// destroyAsync() -> Promise<void>; the handle is dead at once, whatever the promise does.
Napi::Value NativeLink::DestroyAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_link* l = Take();
  if (!l) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Undefined());
    return d.Promise();
  }
  DestroyLinkWorker* worker;
  try {
    worker = new DestroyLinkWorker(env, l);
  } catch (...) {
    bpf_link__destroy(l);
    throw;
  }
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

Napi::Value NativeLink::Fd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), link_ ? bpf_link__fd(link_) : -1);
}

Napi::Object WrapLink(Napi::Env env, bpf_link* link) {
  AddonData* data = GetData(env);
  data->pendingLink = link;
  try {
    Napi::Object o = data->linkCtor.New({});
    return o;
  } catch (...) {
    // The constructor did not take it: the link must not stay attached with no handle.
    if (data->pendingLink) bpf_link__destroy(data->pendingLink);
    data->pendingLink = nullptr;
    throw;
  }
}

Napi::Function InitLink(Napi::Env env) {
  Napi::Function ctor = NativeLink::DefineClass(env, "NativeLink",
                                                {Method<NativeLink, &NativeLink::Destroy>("destroy"),
                                                 Method<NativeLink, &NativeLink::DestroyAsync>("destroyAsync"),
                                                 Method<NativeLink, &NativeLink::Fd>("fd")});
  GetData(env)->linkCtor = Napi::Persistent(ctor);
  return ctor;
}

}  // namespace nbpf
