// Batch element operations (BPF_MAP_*_BATCH, kernel 5.6): one syscall for many entries.
// Keys and values travel as contiguous Buffers; what a partial batch, ENOENT or ENOSPC
// means is decided in TypeScript, so each call returns the errno instead of throwing.
//
// As for single elements (map.cc), each map gets a plain function bound to its fd and to a
// small state Buffer, not an ObjectWrap method taking eight arguments (node-addon-api
// allocates the argument vector past six, type-checks each Buffer, and the result was a new
// array): with the per-call Buffer and array allocations gone too, a whole read of a
// 1024-entry hash map went from 0.96 to 0.97 of C's. The bound function takes the keys and
// values Buffers (checked on every call: they are the caller's), the count and one word,
// and returns undefined or the errno; the count processed and the cursor travel through the
// state Buffer.
#include "common.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nbpf {

size_t MapValueBytes(bpf_map* map);

namespace {
enum BatchCmd : uint32_t { kLookupBatch = 0, kLookupAndDeleteBatch = 1, kUpdateBatch = 2, kDeleteBatch = 3 };
// word = cmd | kFromToken (start at the in token, else at the map's start) | elemFlags << 8
constexpr uint32_t kFromToken = 16;

// The cursor the kernel reads and writes: a key for array maps, a u32 bucket for hash maps.
size_t TokenBytes(bpf_map* map) { return std::max<size_t>(bpf_map__key_size(map), 4); }

// The state Buffer: [u32 count processed][u32 unused][in token][out token].
constexpr size_t kTokensAt = 8;

struct BatchOp {
  NativeObject* owner;  // kept alive by ownerRef as long as the function lives
  napi_ref ownerRef;
  napi_ref stateRef;
  int fd;
  size_t keyBytes;
  size_t valueBytes;
  uint32_t* count;
  uint8_t* inToken;
  uint8_t* outToken;
};

// A Buffer (any ArrayBufferView) argument: its bytes, which must hold `minBytes`; a detached
// one has none.
bool ViewBytes(napi_env env, napi_value v, size_t minBytes, void** data) {
  size_t length = 0;
  *data = nullptr;
  if (napi_get_buffer_info(env, v, data, &length) != napi_ok) return false;
  return length >= minBytes && (*data != nullptr || minBytes == 0);
}

// batch(word, keys, values | null, count) -> undefined | errno; count processed in state.
napi_value BatchOpCall(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  void* data;
  napi_get_cb_info(env, info, &argc, args, nullptr, &data);
  auto* op = static_cast<BatchOp*>(data);
  uint32_t word = 0;
  uint32_t count = 0;
  if (argc < 4 || napi_get_value_uint32(env, args[0], &word) != napi_ok || napi_get_value_uint32(env, args[3], &count) != napi_ok) {
    return ThrowTypeError(env, "map batch: expected (word, keys, values | null, count)");
  }
  uint32_t cmd = word & 15;
  if (cmd > kDeleteBatch) return ThrowTypeError(env, "map batch: unknown cmd");
  void* keys;
  void* values = nullptr;
  if (!ViewBytes(env, args[1], count * op->keyBytes, &keys)) return ThrowTypeError(env, "map batch: keys is too short for the batch");
  if (cmd != kDeleteBatch && !ViewBytes(env, args[2], count * op->valueBytes, &values)) {
    return ThrowTypeError(env, "map batch: values is too short for the batch");
  }
  if (!op->owner->IsOpen()) return Errno(env, EBADF);

  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = word >> 8, .flags = 0);
  void* in = (word & kFromToken) ? op->inToken : nullptr;
  int err = 0;
  switch (cmd) {
    case kLookupBatch: err = bpf_map_lookup_batch(op->fd, in, op->outToken, keys, values, &count, &opts); break;
    case kLookupAndDeleteBatch: err = bpf_map_lookup_and_delete_batch(op->fd, in, op->outToken, keys, values, &count, &opts); break;
    case kUpdateBatch: err = bpf_map_update_batch(op->fd, keys, values, &count, &opts); break;
    case kDeleteBatch: err = bpf_map_delete_batch(op->fd, keys, &count, &opts); break;
  }
  *op->count = count;
  return Errno(env, err < 0 ? -err : err);
}

void BatchOpFinalize(napi_env env, void* data, void*) {
  auto* op = static_cast<BatchOp*>(data);
  napi_delete_reference(env, op->stateRef);
  napi_delete_reference(env, op->ownerRef);
  delete op;
}
}  // namespace

// mapBatchOp(index, state) -> batch(word, keys, values | null, count) -> undefined | errno.
// state: a Buffer of 8 + 2 x token bytes (see kTokensAt), 4-byte aligned.
Napi::Value NativeObject::MapBatchOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bpf_map* map = MapAt(info, 0);
  auto state = ArgBuffer(info, 1, "state");
  if (!loaded_) ThrowErrno(env, "map batch before load", EBADF);
  size_t tokenBytes = TokenBytes(map);
  if (state.Length() != kTokensAt + 2 * tokenBytes) ThrowType(env, "state must have 8 + 2 x token bytes");
  if (reinterpret_cast<uintptr_t>(state.Data()) % alignof(uint32_t) != 0) ThrowType(env, "state must be 4-byte aligned");
  auto* op = new BatchOp{this, nullptr, nullptr, bpf_map__fd(map), bpf_map__key_size(map), MapValueBytes(map),
                         reinterpret_cast<uint32_t*>(state.Data()), state.Data() + kTokensAt,
                         state.Data() + kTokensAt + tokenBytes};
  napi_value fn;
  napi_status st = napi_create_function(env, "mapBatch", NAPI_AUTO_LENGTH, BatchOpCall, op, &fn);
  if (st == napi_ok) st = napi_add_finalizer(env, fn, op, BatchOpFinalize, nullptr, nullptr);
  if (st != napi_ok) {
    delete op;
    NAPI_THROW_IF_FAILED(env, st, Napi::Value());
  }
  napi_create_reference(env, info.This(), 1, &op->ownerRef);
  napi_create_reference(env, state, 1, &op->stateRef);
  return Napi::Value(env, fn);
}

}  // namespace nbpf
