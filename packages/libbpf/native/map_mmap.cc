// BPF_F_MMAPABLE arrays (kernel 5.5) mapped into an external ArrayBuffer, so JavaScript
// reads and writes the values with no syscall.
//
// The memory must never be reachable once its map is closed. Close detaches the ArrayBuffer
// (views see byteLength 0), and it also puts anonymous memory in place of the map's pages
// instead of unmapping them: a backing store that escaped the detach (a future transfer())
// then sees zeros, never an unmapped page. The address range itself is unmapped when the
// ArrayBuffer's backing store is freed.
#include "common.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <set>

namespace nbpf {

namespace {
struct Region {
  void* addr;
  size_t size;  // page-rounded length of the mapping
};

// Regions whose backing store is alive. Workers have their own environments, so guard it.
std::mutex regionsMutex;
std::set<Region*> regions;

void RegionFinalize(napi_env, void*, void* hint) {
  auto* r = static_cast<Region*>(hint);
  {
    std::lock_guard<std::mutex> lock(regionsMutex);
    regions.erase(r);
  }
  munmap(r->addr, r->size);
  delete r;
}

Region* FindRegion(void* addr) {
  std::lock_guard<std::mutex> lock(regionsMutex);
  for (Region* r : regions)
    if (r->addr == addr) return r;
  return nullptr;
}
}  // namespace

// mapMmap(index, writable) -> ArrayBuffer of maxEntries * round_up(valueSize, 8) bytes
Napi::Value NativeObject::MapMmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = MapAt(info, 0);
  if (!loaded_) ThrowErrno(env, "mmap of a map before load", EBADF);
  if (info.Length() < 2 || !info[1].IsBoolean()) ThrowType(env, "writable must be a boolean");
  bool writable = info[1].As<Napi::Boolean>().Value();
  size_t bytes = static_cast<size_t>(bpf_map__max_entries(map)) * ((bpf_map__value_size(map) + 7) / 8 * 8);
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t size = (bytes + page - 1) / page * page;
  int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  void* addr = mmap(nullptr, size, prot, MAP_SHARED, bpf_map__fd(map), 0);
  if (addr == MAP_FAILED) ThrowErrno(env, std::string("mmap of map ") + bpf_map__name(map), errno);
  auto* r = new Region{addr, size};
  napi_value ab;
  napi_status st = napi_create_external_arraybuffer(env, addr, bytes, RegionFinalize, r, &ab);
  if (st != napi_ok) {
    munmap(addr, size);
    delete r;
    ThrowErrno(env, "napi_create_external_arraybuffer", ENOMEM);
  }
  std::lock_guard<std::mutex> lock(regionsMutex);
  regions.insert(r);
  return Napi::Value(env, ab);
}

// mapUnmap(arrayBuffer) -> true when it was a live mapping: detaches it and drops the map's
// pages. Only regions made by mapMmap are touched.
Napi::Value NativeObject::MapUnmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) ThrowType(env, "expected an ArrayBuffer");
  auto ab = info[0].As<Napi::ArrayBuffer>();
  if (ab.IsDetached()) return Napi::Boolean::New(env, false);
  Region* r = FindRegion(ab.Data());
  if (!r) ThrowType(env, "not an ArrayBuffer of a mapped map");
  ab.Detach();
  void* p = mmap(r->addr, r->size, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) ThrowErrno(env, "mmap (replacing a closed map's pages)", errno);
  return Napi::Boolean::New(env, true);
}

}  // namespace nbpf
