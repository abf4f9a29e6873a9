// bpf_object lifecycle: open (file or memory), load, listings, close.
#include "common.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace nbpf {

namespace {
std::string OptString(Napi::Object opts, const char* key) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) return "";
  if (!v.IsString()) ThrowType(opts.Env(), std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}
}  // namespace

// new NativeObject(pathOrBuffer, {objectName?, btfCustomPath?, kernelLogLevel?})
NativeObject::NativeObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeObject>(info) {
  TagInstance<NativeObject>(info);
  Napi::Env env = info.Env();
  Napi::Object opts = (info.Length() > 1 && info[1].IsObject()) ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  std::string objectName = OptString(opts, "objectName");
  std::string btfPath = OptString(opts, "btfCustomPath");
  uint32_t logLevel = 0;
  Napi::Value lv = opts.Get("kernelLogLevel");
  if (lv.IsNumber()) logLevel = lv.As<Napi::Number>().Uint32Value();
  // logCapture: the highest libbpf message level kept during the open (default: all).
  int capture = LIBBPF_DEBUG;
  Napi::Value lc = opts.Get("logCapture");
  if (lc.IsNumber()) capture = lc.As<Napi::Number>().Int32Value();

  LIBBPF_OPTS(bpf_object_open_opts, o);
  if (!objectName.empty()) o.object_name = objectName.c_str();
  if (!btfPath.empty()) o.btf_custom_path = btfPath.c_str();
  o.kernel_log_level = logLevel;

  AddonData* data = GetData(env);
  int previousCapture = data->logCapture;
  if (info.Length() > 0 && info[0].IsBuffer()) {
    auto buf = info[0].As<Napi::Buffer<uint8_t>>();
    elf_.assign(buf.Data(), buf.Data() + buf.Length());
    data->logCapture = capture;
    obj_ = bpf_object__open_mem(elf_.data(), elf_.size(), &o);
  } else {
    std::string path = ArgString(info, 0, "path");
    data->logCapture = capture;
    obj_ = bpf_object__open_file(path.c_str(), &o);
  }
  int openErr = errno;
  data->logCapture = previousCapture;
  if (!obj_) ThrowErrno(env, "bpf_object__open", openErr);

  bpf_map* m;
  bpf_object__for_each_map(m, obj_) maps_.push_back(m);
  bpf_program* p;
  bpf_object__for_each_program(p, obj_) progs_.push_back(p);
  mmaps_.resize(maps_.size());
  data->liveObjects.insert(this);
}

NativeObject::~NativeObject() {
  Release();
}

void NativeObject::Release() {
  for (auto& mm : mmaps_) {
    if (mm.addr) munmap(mm.addr, mm.size);
    mm = Mapping{};
  }
  if (obj_) {
    bpf_object__close(obj_);
    obj_ = nullptr;
    GetData(Env())->liveObjects.erase(this);
  }
  maps_.clear();
  progs_.clear();
  elf_.clear();
  elf_.shrink_to_fit();
}

bpf_object* NativeObject::Raw(Napi::Env env) {
  if (!obj_) ThrowErrno(env, "use of a closed BPF object", EBADF);
  return obj_;
}

bpf_map* NativeObject::MapAt(const Napi::CallbackInfo& info, size_t argIndex) {
  Raw(info.Env());
  uint32_t i = ArgU32(info, argIndex, "map index");
  if (i >= maps_.size()) ThrowType(info.Env(), "map index out of range");
  return maps_[i];
}

bpf_program* NativeObject::ProgAt(const Napi::CallbackInfo& info, size_t argIndex) {
  Raw(info.Env());
  uint32_t i = ArgU32(info, argIndex, "program index");
  if (i >= progs_.size()) ThrowType(info.Env(), "program index out of range");
  return progs_[i];
}

Napi::Value NativeObject::Close(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

// Maps the kernel memory of every mmapable global-data map (.bss, .data, .rodata).
void NativeObject::MapDataSections(Napi::Env env) {
  long page = sysconf(_SC_PAGESIZE);
  for (size_t i = 0; i < maps_.size(); i++) {
    bpf_map* map = maps_[i];
    if (!bpf_map__is_internal(map) || !(bpf_map__map_flags(map) & BPF_F_MMAPABLE)) continue;
    size_t size = (bpf_map__value_size(map) + page - 1) / page * page;
    bool frozen = bpf_map__map_flags(map) & BPF_F_RDONLY_PROG;
    int prot = frozen ? PROT_READ : PROT_READ | PROT_WRITE;
    void* addr = mmap(nullptr, size, prot, MAP_SHARED, bpf_map__fd(map), 0);
    if (addr == MAP_FAILED) ThrowErrno(env, std::string("mmap of map ") + Str(env, bpf_map__name(map)).Utf8Value(), errno);
    mmaps_[i] = Mapping{addr, size, !frozen};
  }
}

Napi::Value NativeObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (loaded_) ThrowErrno(env, "bpf_object__load (already loaded)", EALREADY);
  int err = bpf_object__load(Raw(env));
  if (err) ThrowErrno(env, "bpf_object__load", -err);
  loaded_ = true;
  elf_.clear();
  elf_.shrink_to_fit();
  MapDataSections(env);
  return env.Undefined();
}

Napi::Value NativeObject::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Raw(env);
  Napi::Array out = Napi::Array::New(env, maps_.size());
  for (size_t i = 0; i < maps_.size(); i++) {
    bpf_map* m = maps_[i];
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", Str(env, bpf_map__name(m)));
    d.Set("type", static_cast<uint32_t>(bpf_map__type(m)));
    d.Set("keySize", bpf_map__key_size(m));
    d.Set("valueSize", bpf_map__value_size(m));
    d.Set("maxEntries", bpf_map__max_entries(m));
    d.Set("flags", bpf_map__map_flags(m));
    d.Set("internal", bpf_map__is_internal(m));
    d.Set("autocreate", bpf_map__autocreate(m));
    out.Set(i, d);
  }
  return out;
}

Napi::Value NativeObject::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Raw(env);
  Napi::Array out = Napi::Array::New(env, progs_.size());
  for (size_t i = 0; i < progs_.size(); i++) {
    bpf_program* p = progs_[i];
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", Str(env, bpf_program__name(p)));
    d.Set("section", Str(env, bpf_program__section_name(p)));
    d.Set("type", static_cast<uint32_t>(bpf_program__type(p)));
    d.Set("expectedAttachType", static_cast<uint32_t>(bpf_program__expected_attach_type(p)));
    d.Set("autoload", bpf_program__autoload(p));
    out.Set(i, d);
  }
  return out;
}

Napi::Function InitObject(Napi::Env env) {
  return NativeObject::DefineClass(
      env, "NativeObject",
      {
          Method<NativeObject, &NativeObject::Close>("close"),
          Method<NativeObject, &NativeObject::Load>("load"),
          Method<NativeObject, &NativeObject::Maps>("maps"),
          Method<NativeObject, &NativeObject::Programs>("programs"),
          Method<NativeObject, &NativeObject::MapReuseFd>("mapReuseFd"),
          Method<NativeObject, &NativeObject::MapSetMaxEntries>("mapSetMaxEntries"),
          Method<NativeObject, &NativeObject::MapSetValueSize>("mapSetValueSize"),
          Method<NativeObject, &NativeObject::MapFd>("mapFd"),
          Method<NativeObject, &NativeObject::MapNextKey>("mapNextKey"),
          Method<NativeObject, &NativeObject::MapReadData>("mapReadData"),
          Method<NativeObject, &NativeObject::MapWriteData>("mapWriteData"),
          Method<NativeObject, &NativeObject::MapFastOp>("mapFastOp"),
          Method<NativeObject, &NativeObject::MapBatchOp>("mapBatchOp"),
          Method<NativeObject, &NativeObject::MapMmap>("mapMmap"),
          Method<NativeObject, &NativeObject::MapUnmap>("mapUnmap"),
          Method<NativeObject, &NativeObject::ProgSetAutoload>("progSetAutoload"),
          Method<NativeObject, &NativeObject::ProgFd>("progFd"),
          Method<NativeObject, &NativeObject::ProgTestRun>("progTestRun"),
          Method<NativeObject, &NativeObject::ProgAttach>("progAttach"),
          Method<NativeObject, &NativeObject::ProgAttachTracepoint>("progAttachTracepoint"),
          Method<NativeObject, &NativeObject::ProgAttachRawTracepoint>("progAttachRawTracepoint"),
          Method<NativeObject, &NativeObject::ProgAttachPerfEvent>("progAttachPerfEvent"),
          Method<NativeObject, &NativeObject::ProgRunOnCpus>("progRunOnCpus"),
          Method<NativeObject, &NativeObject::BtfDatasec>("btfDatasec"),
          Method<NativeObject, &NativeObject::BtfType>("btfType"),
      });
}

}  // namespace nbpf
