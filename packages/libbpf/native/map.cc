// Map setters before load, element operations after load, and global-data access.
#include "common.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace nbpf {

size_t MapValueBytes(bpf_map* map);

// ---- the fast element op ------------------------------------------------------------------
// A single lookup is one syscall of ~250 ns, around which C's libbpf call runs 45 user-space
// instructions (callgrind); an ObjectWrap method taking an index, Buffers and flags ran
// ~2,300 to 3,000, about as long as the syscall. So each map gets plain functions bound to
// its fd and to key/value Buffers whose sizes were checked once:
//   call([word[, out]]): nothing (a lookup into the value Buffer) or one small integer,
//     (flags << 4) | cmd; kLookupInto with the caller's out array binds that array to
//     `into` and looks up into it;
//   into(): a lookup into the bound out array (lookupInto's hot path: no copy in JS).
// Both return undefined when done (no number to make), else the errno. Keys travel through
// the bound key Buffer, written by JS.
namespace {
enum FastCmd : uint32_t { kLookup = 0, kUpdate = 1, kDelete = 2, kLookupInto = 3 };

struct FastOp {
  NativeObject* owner;   // kept alive by ownerRef as long as either function lives
  napi_ref ownerRef;
  napi_ref keyRef;
  napi_ref valueRef;
  napi_ref outRef;       // the out array bound to `into`, or null
  int functions;         // of call and into still alive: the last finalizer frees the op
  size_t valueBytes;
  union bpf_attr attr;   // fd, key and value filled once: a call only sets the flags
  union bpf_attr into;   // the same with the bound out array as value; value 0: none bound
};

// libbpf's bpf_map_lookup_elem_flags and bpf_map_update_elem, minus clearing and refilling
// the attributes on every call.
constexpr size_t kElemAttrBytes = offsetof(union bpf_attr, flags) + sizeof(__u64);
int ElemSyscall(union bpf_attr* attr, int cmd, uint32_t flags) {
  attr->flags = flags;
  return syscall(__NR_bpf, cmd, attr, kElemAttrBytes) < 0 ? errno : 0;
}

// Binds `out` to `into`: a Uint8Array of exactly the value bytes (after this call its data
// stays where it is: napi_get_typedarray_info moves a small array's bytes off the JS heap).
// The op keeps it alive (outRef). JS calls `into` only after checking, in the same turn,
// that the array it is given is this bound one and still attached (map.ts: a detached
// buffer leaves length 0), so the kernel never writes memory that is gone.
bool BindOut(napi_env env, FastOp* op, napi_value out) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, out, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_uint8_array || length != op->valueBytes || data == nullptr) {
    ThrowTypeError(env, "map op: out must be a Uint8Array of the value bytes");
    return false;
  }
  napi_ref ref;
  if (napi_create_reference(env, out, 1, &ref) != napi_ok) return false;
  if (op->outRef) napi_delete_reference(env, op->outRef);
  op->outRef = ref;
  op->into.value = reinterpret_cast<uintptr_t>(data);
  return true;
}

napi_value FastOpCall(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  void* data;
  napi_get_cb_info(env, info, &argc, args, nullptr, &data);
  auto* op = static_cast<FastOp*>(data);
  uint32_t word = kLookup;
  if (argc > 0 && napi_get_value_uint32(env, args[0], &word) != napi_ok) {
    return ThrowTypeError(env, "map op: expected nothing or (flags << 4) | cmd");
  }
  uint32_t flags = word >> 4;
  uint32_t cmd = word & 15;
  if (cmd == kLookupInto && (argc < 2 || !BindOut(env, op, args[1]))) return nullptr;
  if (!op->owner->IsOpen()) return Errno(env, EBADF);
  switch (cmd) {
    case kLookup: return Errno(env, ElemSyscall(&op->attr, BPF_MAP_LOOKUP_ELEM, flags));
    case kUpdate: return Errno(env, ElemSyscall(&op->attr, BPF_MAP_UPDATE_ELEM, flags));
    case kDelete: {
      void* key = reinterpret_cast<void*>(static_cast<uintptr_t>(op->attr.key));
      int err = bpf_map_delete_elem(static_cast<int>(op->attr.map_fd), key);
      return Errno(env, err < 0 ? -err : 0);
    }
    case kLookupInto: return Errno(env, ElemSyscall(&op->into, BPF_MAP_LOOKUP_ELEM, flags));
    default: return ThrowTypeError(env, "map op: unknown cmd");
  }
}

napi_value FastOpInto(napi_env env, napi_callback_info info) {
  void* data;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  auto* op = static_cast<FastOp*>(data);
  if (op->into.value == 0) return ThrowTypeError(env, "map op: no out array bound");
  if (!op->owner->IsOpen()) return Errno(env, EBADF);
  return Errno(env, ElemSyscall(&op->into, BPF_MAP_LOOKUP_ELEM, 0));
}

void FastOpFinalize(napi_env env, void* data, void*) {
  auto* op = static_cast<FastOp*>(data);
  if (--op->functions > 0) return;
  napi_delete_reference(env, op->keyRef);
  napi_delete_reference(env, op->valueRef);
  napi_delete_reference(env, op->ownerRef);
  if (op->outRef) napi_delete_reference(env, op->outRef);
  delete op;
}

}  // namespace

// Bytes of one value as the element syscalls copy it: per-CPU maps hold one 8-byte aligned
// slot per possible CPU.
size_t MapValueBytes(bpf_map* map) {
  size_t size = bpf_map__value_size(map);
  switch (bpf_map__type(map)) {
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
      return (size + 7) / 8 * 8 * static_cast<size_t>(libbpf_num_possible_cpus());
    default:
      return size;
  }
}

// mapFastOp(index, key, value) -> [call, into] (see above); key and value are the Buffers
// the op reads and writes (exactly the key size and the value bytes).
Napi::Value NativeObject::MapFastOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = MapAt(info, 0);
  auto key = ArgBuffer(info, 1, "key");
  auto value = ArgBuffer(info, 2, "value");
  if (!loaded_) ThrowErrno(env, "map op before load", EBADF);
  if (key.Length() != bpf_map__key_size(map)) ThrowType(env, "key must have the map's key size");
  if (value.Length() != MapValueBytes(map)) ThrowType(env, "value must have the map's value bytes");
  auto* op = new FastOp{this, nullptr, nullptr, nullptr, nullptr, 0, value.Length(), {}, {}};
  std::memset(&op->attr, 0, sizeof(op->attr));
  op->attr.map_fd = static_cast<__u32>(bpf_map__fd(map));
  op->attr.key = reinterpret_cast<uintptr_t>(key.Data());
  op->attr.value = reinterpret_cast<uintptr_t>(value.Data());
  op->into = op->attr;
  op->into.value = 0;
  napi_value call;
  napi_value into;
  // Each function that exists holds the op (functions), so a failure half-way frees it once.
  napi_status st = napi_create_function(env, "mapOp", NAPI_AUTO_LENGTH, FastOpCall, op, &call);
  if (st == napi_ok) st = napi_add_finalizer(env, call, op, FastOpFinalize, nullptr, nullptr);
  if (st != napi_ok) {
    delete op;
    NAPI_THROW_IF_FAILED(env, st, Napi::Value());
  }
  op->functions = 1;
  napi_create_reference(env, info.This(), 1, &op->ownerRef);
  napi_create_reference(env, key, 1, &op->keyRef);
  napi_create_reference(env, value, 1, &op->valueRef);
  st = napi_create_function(env, "mapOpInto", NAPI_AUTO_LENGTH, FastOpInto, op, &into);
  if (st == napi_ok) st = napi_add_finalizer(env, into, op, FastOpFinalize, nullptr, nullptr);
  NAPI_THROW_IF_FAILED(env, st, Napi::Value());
  op->functions = 2;
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Value(env, call));
  pair.Set(1u, Napi::Value(env, into));
  return pair;
}

// ---- setters and the plain element calls ---------------------------------------------------

Napi::Value NativeObject::MapReuseFd(const Napi::CallbackInfo& info) {
  bpf_map* map = MapAt(info, 0);
  int err = bpf_map__reuse_fd(map, ArgI32(info, 1, "fd"));
  if (err) ThrowErrno(info.Env(), "bpf_map__reuse_fd", -err);
  return info.Env().Undefined();
}

Napi::Value NativeObject::MapSetMaxEntries(const Napi::CallbackInfo& info) {
  bpf_map* map = MapAt(info, 0);
  int err = bpf_map__set_max_entries(map, ArgU32(info, 1, "maxEntries"));
  if (err) ThrowErrno(info.Env(), "bpf_map__set_max_entries", -err);
  return info.Env().Undefined();
}

Napi::Value NativeObject::MapSetValueSize(const Napi::CallbackInfo& info) {
  bpf_map* map = MapAt(info, 0);
  int err = bpf_map__set_value_size(map, ArgU32(info, 1, "valueSize"));
  if (err) ThrowErrno(info.Env(), "bpf_map__set_value_size", -err);
  return info.Env().Undefined();
}

Napi::Value NativeObject::MapFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bpf_map__fd(MapAt(info, 0)));
}

// mapNextKey(index, key | null) -> Buffer | undefined (no more keys)
Napi::Value NativeObject::MapNextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = MapAt(info, 0);
  size_t keySize = bpf_map__key_size(map);
  auto next = Napi::Buffer<uint8_t>::New(env, keySize);
  const void* cur = nullptr;
  if (!ArgIsNullish(info, 1)) {
    auto key = ArgBuffer(info, 1, "key");
    if (key.Length() != keySize) ThrowErrno(env, "bpf_map_get_next_key (key size)", EINVAL);
    cur = key.Data();
  }
  int err = bpf_map__get_next_key(map, cur, next.Data(), keySize);
  if (err == -ENOENT) return env.Undefined();
  if (err) ThrowErrno(env, "bpf_map_get_next_key", -err);
  return next;
}

// Global data lives in libbpf's initial image before load and in the kernel map's
// mmapped memory after load.
uint8_t* NativeObject::DataRegion(Napi::Env env, size_t index, bool forWrite, size_t* size) {
  bpf_map* map = maps_[index];
  if (loaded_) {
    const Mapping& mm = mmaps_[index];
    if (!mm.addr) ThrowErrno(env, std::string("map ") + bpf_map__name(map) + " is not mmapped", EOPNOTSUPP);
    if (forWrite && !mm.writable) ThrowErrno(env, std::string("map ") + bpf_map__name(map) + " is read-only after load", EPERM);
    *size = bpf_map__value_size(map);
    return static_cast<uint8_t*>(mm.addr);
  }
  const void* p = bpf_map__initial_value(map, size);
  if (!p) ThrowErrno(env, std::string("map ") + bpf_map__name(map) + " has no initial value", EINVAL);
  // Writable before load: libbpf keeps the image in its own anonymous mapping, which is
  // what generated skeletons write into (libbpf 1.1 declares it const).
  return static_cast<uint8_t*>(const_cast<void*>(p));
}

// mapReadData(index, offset, length) -> Buffer (a copy)
Napi::Value NativeObject::MapReadData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapAt(info, 0);
  size_t index = ArgU32(info, 0, "map index");
  uint32_t offset = ArgU32(info, 1, "offset");
  uint32_t length = ArgU32(info, 2, "length");
  size_t size = 0;
  uint8_t* base = DataRegion(env, index, false, &size);
  if (static_cast<uint64_t>(offset) + length > size) ThrowErrno(env, "read past the end of a data section", ERANGE);
  return Napi::Buffer<uint8_t>::Copy(env, base + offset, length);
}

// mapWriteData(index, offset, bytes)
Napi::Value NativeObject::MapWriteData(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MapAt(info, 0);
  size_t index = ArgU32(info, 0, "map index");
  uint32_t offset = ArgU32(info, 1, "offset");
  auto bytes = ArgBuffer(info, 2, "bytes");
  size_t size = 0;
  uint8_t* base = DataRegion(env, index, true, &size);
  if (static_cast<uint64_t>(offset) + bytes.Length() > size) ThrowErrno(env, "write past the end of a data section", ERANGE);
  std::memcpy(base + offset, bytes.Data(), bytes.Length());
  return env.Undefined();
}

}  // namespace nbpf
