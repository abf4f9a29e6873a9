// Map setters before load, element operations after load, and global-data access.
#include "common.h"

#include <cerrno>
#include <cstring>

namespace nbpf {

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

// mapLookup(index, key, valueBytes, flags) -> Buffer | undefined (no such key)
Napi::Value NativeObject::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = MapAt(info, 0);
  auto key = ArgBuffer(info, 1, "key");
  uint32_t valueBytes = ArgU32(info, 2, "valueBytes");
  uint32_t flags = ArgU32(info, 3, "flags");
  auto value = Napi::Buffer<uint8_t>::New(env, valueBytes);
  int err = bpf_map__lookup_elem(map, key.Data(), key.Length(), value.Data(), valueBytes, flags);
  if (err == -ENOENT) return env.Undefined();
  if (err) ThrowErrno(env, "bpf_map_lookup_elem", -err);
  return value;
}

// mapLookupInto(index, key, out, flags) -> true, or false when there is no such key
Napi::Value NativeObject::MapLookupInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = MapAt(info, 0);
  auto key = ArgBuffer(info, 1, "key");
  auto out = ArgBuffer(info, 2, "out");
  uint32_t flags = ArgU32(info, 3, "flags");
  int err = bpf_map__lookup_elem(map, key.Data(), key.Length(), out.Data(), out.Length(), flags);
  if (err == -ENOENT) return Napi::Boolean::New(env, false);
  if (err) ThrowErrno(env, "bpf_map_lookup_elem", -err);
  return Napi::Boolean::New(env, true);
}

Napi::Value NativeObject::MapUpdate(const Napi::CallbackInfo& info) {
  bpf_map* map = MapAt(info, 0);
  auto key = ArgBuffer(info, 1, "key");
  auto value = ArgBuffer(info, 2, "value");
  uint32_t flags = ArgU32(info, 3, "flags");
  int err = bpf_map__update_elem(map, key.Data(), key.Length(), value.Data(), value.Length(), flags);
  if (err) ThrowErrno(info.Env(), "bpf_map_update_elem", -err);
  return info.Env().Undefined();
}

// mapDelete(index, key) -> true when deleted, false when there was no such key
Napi::Value NativeObject::MapDelete(const Napi::CallbackInfo& info) {
  bpf_map* map = MapAt(info, 0);
  auto key = ArgBuffer(info, 1, "key");
  int err = bpf_map__delete_elem(map, key.Data(), key.Length(), 0);
  if (err == -ENOENT) return Napi::Boolean::New(info.Env(), false);
  if (err) ThrowErrno(info.Env(), "bpf_map_delete_elem", -err);
  return Napi::Boolean::New(info.Env(), true);
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
