// Shared declarations of the native layer. The native layer is deliberately thin:
// each function wraps one libbpf call or syscall, checks its arguments' shapes and
// lengths, and reports errno. Every decision (defaults, policy, messages) lives in
// TypeScript.
#pragma once

#include <napi.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace nbpf {

class NativeObject;
class NativeLink;
class NativeGridRunner;

// Per-environment state: constructors and the JS error factory handed in by TS.
struct AddonData {
  Napi::FunctionReference errorFactory;  // (op, errno, message) => Error
  Napi::FunctionReference linkCtor;
  std::set<NativeObject*> liveObjects;   // closed by the env cleanup hook
  std::set<NativeLink*> liveLinks;
  std::set<NativeGridRunner*> liveGridRunners;  // stopped (threads joined) by the hook
};

AddonData* GetData(Napi::Env env);

// Throws the TS error class (BpfError) built by the factory; `err` is a positive errno.
[[noreturn]] void ThrowErrno(Napi::Env env, const std::string& op, int err);
// Throws a TypeError for a malformed argument (a bug in the TS layer or a direct caller).
[[noreturn]] void ThrowType(Napi::Env env, const std::string& message);

// Argument helpers that type-check before use.
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* what);
int32_t ArgI32(const Napi::CallbackInfo& info, size_t i, const char* what);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what);
Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo& info, size_t i, const char* what);
bool ArgIsNullish(const Napi::CallbackInfo& info, size_t i);

Napi::Function InitObject(Napi::Env env);
Napi::Function InitLink(Napi::Env env);
Napi::Function InitRingBuffer(Napi::Env env);
Napi::Function InitPerfBuffer(Napi::Env env);
Napi::Function InitGridRunner(Napi::Env env);
// Stops a grid runner's thread and waits for it (grid.cc).
void ReleaseGridRunner(NativeGridRunner* runner);
void InitLog(Napi::Env env, Napi::Object exports);
void InitCpu(Napi::Env env, Napi::Object exports);
void InitSys(Napi::Env env, Napi::Object exports);

// Creates a JS link handle owning `link`.
Napi::Object WrapLink(Napi::Env env, bpf_link* link);

class NativeLink : public Napi::ObjectWrap<NativeLink> {
 public:
  explicit NativeLink(const Napi::CallbackInfo& info);
  ~NativeLink() override;
  void Release();

 private:
  friend Napi::Function InitLink(Napi::Env env);
  Napi::Value Destroy(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  bpf_link* link_ = nullptr;
};

class NativeObject : public Napi::ObjectWrap<NativeObject> {
 public:
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
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  Napi::Value MapLookupInto(const Napi::CallbackInfo& info);
  Napi::Value MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  Napi::Value MapNextKey(const Napi::CallbackInfo& info);
  Napi::Value MapReadData(const Napi::CallbackInfo& info);
  Napi::Value MapWriteData(const Napi::CallbackInfo& info);
  // map.cc (fast op), map_batch.cc, map_mmap.cc
  Napi::Value MapFastOp(const Napi::CallbackInfo& info);
  Napi::Value MapBatch(const Napi::CallbackInfo& info);
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
