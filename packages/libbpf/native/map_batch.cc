// Batch element operations (BPF_MAP_*_BATCH, kernel 5.6): one syscall for many entries.
// Keys and values travel as contiguous Buffers; what a partial batch, ENOENT or ENOSPC
// means is decided in TypeScript, so each call returns [errno, count] instead of throwing.
#include "common.h"

#include <algorithm>
#include <cerrno>

namespace nbpf {

size_t MapValueBytes(bpf_map* map);

namespace {
enum BatchCmd : uint32_t { kLookupBatch = 0, kLookupAndDeleteBatch = 1, kUpdateBatch = 2, kDeleteBatch = 3 };

uint8_t* OptBuffer(const Napi::CallbackInfo& info, size_t i, const char* what, size_t minBytes) {
  if (ArgIsNullish(info, i)) return nullptr;
  auto b = ArgBuffer(info, i, what);
  if (b.Length() < minBytes) ThrowType(info.Env(), std::string(what) + " is too short for the batch");
  return b.Data();
}

// The cursor the kernel reads and writes: a key for array maps, a u32 bucket for hash maps.
size_t TokenBytes(bpf_map* map) { return std::max<size_t>(bpf_map__key_size(map), 4); }
}  // namespace

// mapBatch(index, cmd, inToken | null, outToken | null, keys, values | null, count, elemFlags)
//   -> [errno, count]: count is how many entries the kernel processed.
Napi::Value NativeObject::MapBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = MapAt(info, 0);
  if (!loaded_) ThrowErrno(env, "map batch before load", EBADF);
  uint32_t cmd = ArgU32(info, 1, "cmd");
  uint32_t count = ArgU32(info, 6, "count");
  uint32_t elemFlags = ArgU32(info, 7, "elemFlags");
  size_t keyBytes = static_cast<size_t>(count) * bpf_map__key_size(map);
  size_t valueBytes = static_cast<size_t>(count) * MapValueBytes(map);
  uint8_t* in = OptBuffer(info, 2, "inToken", TokenBytes(map));
  uint8_t* out = OptBuffer(info, 3, "outToken", TokenBytes(map));
  uint8_t* keys = OptBuffer(info, 4, "keys", keyBytes);
  uint8_t* values = OptBuffer(info, 5, "values", valueBytes);
  bool lookup = cmd == kLookupBatch || cmd == kLookupAndDeleteBatch;
  if (cmd > kDeleteBatch) ThrowType(env, "unknown batch cmd");
  if (!keys || (cmd != kDeleteBatch && !values) || (lookup && !out)) ThrowType(env, "missing batch buffer");

  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = elemFlags, .flags = 0);
  int fd = bpf_map__fd(map);
  int err = 0;
  switch (cmd) {
    case kLookupBatch: err = bpf_map_lookup_batch(fd, in, out, keys, values, &count, &opts); break;
    case kLookupAndDeleteBatch: err = bpf_map_lookup_and_delete_batch(fd, in, out, keys, values, &count, &opts); break;
    case kUpdateBatch: err = bpf_map_update_batch(fd, keys, values, &count, &opts); break;
    case kDeleteBatch: err = bpf_map_delete_batch(fd, keys, &count, &opts); break;
  }
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, err < 0 ? -err : err));
  result.Set(1u, Napi::Number::New(env, count));
  return result;
}

}  // namespace nbpf
