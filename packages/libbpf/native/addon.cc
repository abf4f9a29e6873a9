// Module entry: registers the classes, libbpf's log capture and the cleanup hook.
#include "common.h"

#include <cstdarg>
#include <cstdio>
#include <deque>
#include <mutex>

namespace nbpf {

AddonData* GetData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// libbpf logs through one process-wide callback. A message belongs to the environment
// whose JS thread made the libbpf call: each environment's Init points this thread's
// `threadData` at its own queue, so two workers loading at once keep their verifier logs
// apart. Messages from threads of no environment (pinned runs, the thread pool) go to a
// shared queue that the next drain of any environment takes.
namespace {
thread_local AddonData* threadData = nullptr;
std::mutex strayMutex;
std::deque<std::pair<int, std::string>> strayQueue;
constexpr size_t kMaxQueued = 10000;

void Enqueue(std::deque<std::pair<int, std::string>>& q, int level, std::string text) {
  if (q.size() >= kMaxQueued) q.pop_front();
  q.emplace_back(level, std::move(text));
}

// A verifier log arrives as one message of up to megabytes: a message longer than the
// stack buffer is formatted again at its full length, so no log is ever cut short
// (TS finds the log's END marker to build a VerifierError).
int PrintCallback(enum libbpf_print_level level, const char* fmt, va_list args) {
  AddonData* data = threadData;
  if (data && static_cast<int>(level) > data->logCapture) return 0;
  char buf[4096];
  va_list again;
  va_copy(again, args);
  int n = vsnprintf(buf, sizeof(buf), fmt, args);
  if (n < 0) {
    va_end(again);
    return n;
  }
  std::string text;
  if (static_cast<size_t>(n) < sizeof(buf)) {
    text.assign(buf, n);
  } else {
    text.resize(static_cast<size_t>(n) + 1);
    vsnprintf(text.data(), text.size(), fmt, again);
    text.resize(n);
  }
  va_end(again);
  if (data) {
    Enqueue(data->log, static_cast<int>(level), std::move(text));
  } else {
    std::lock_guard<std::mutex> lock(strayMutex);
    Enqueue(strayQueue, static_cast<int>(level), std::move(text));
  }
  return n;
}

// drainLog(maxLevel?) -> [level, text, ...]: takes every queued message; those above
// maxLevel (default: none) are dropped here instead of becoming JS strings.
Napi::Value DrainLog(const Napi::CallbackInfo& info) {
  int maxLevel = LIBBPF_DEBUG;
  if (!ArgIsNullish(info, 0)) maxLevel = static_cast<int>(ArgU32(info, 0, "maxLevel"));
  std::deque<std::pair<int, std::string>> taken;
  taken.swap(GetData(info.Env())->log);
  {
    std::lock_guard<std::mutex> lock(strayMutex);
    for (auto& m : strayQueue) taken.push_back(std::move(m));
    strayQueue.clear();
  }
  size_t kept = 0;
  for (auto& m : taken) kept += m.first <= maxLevel;
  Napi::Array out = Napi::Array::New(info.Env(), kept * 2);
  uint32_t i = 0;
  for (auto& [level, text] : taken) {
    if (level > maxLevel) continue;
    out.Set(i++, Napi::Number::New(info.Env(), level));
    out.Set(i++, Napi::String::New(info.Env(), text));
  }
  return out;
}

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowType(info.Env(), "factory must be a function");
  GetData(info.Env())->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  Napi::Object v = Napi::Object::New(info.Env());
  v.Set("major", libbpf_major_version());
  v.Set("minor", libbpf_minor_version());
  v.Set("string", libbpf_version_string());
  // libbpf knows only major.minor; the full release is the pin it was built from.
  v.Set("release", NBPF_LIBBPF_RELEASE);
  return v;
}

Napi::Value ProbeProgType(const Napi::CallbackInfo& info) {
  int r = libbpf_probe_bpf_prog_type(static_cast<bpf_prog_type>(ArgU32(info, 0, "type")), nullptr);
  return Napi::Number::New(info.Env(), r);
}

Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  int r = libbpf_probe_bpf_map_type(static_cast<bpf_map_type>(ArgU32(info, 0, "type")), nullptr);
  return Napi::Number::New(info.Env(), r);
}

// Safety net at environment teardown: whatever the user did not close is released.
void Cleanup(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  // Threads first: no program runs once the objects go.
  for (NativeGridRunner* r : std::set<NativeGridRunner*>(data->liveGridRunners)) ReleaseGridRunner(r);
  for (NativeLink* l : std::set<NativeLink*>(data->liveLinks)) l->Release();
  for (NativeObject* o : std::set<NativeObject*>(data->liveObjects)) o->Release();
  for (NativeFd* f : std::set<NativeFd*>(data->liveFds)) f->Release();
  RunTeardownWrites(data);
}
}  // namespace

AddonData::~AddonData() {
  if (threadData == this) threadData = nullptr;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);
  threadData = data;
  libbpf_set_print(PrintCallback);
  napi_add_env_cleanup_hook(env, Cleanup, data);

  exports.Set("NativeObject", InitObject(env));
  exports.Set("NativeLink", InitLink(env));
  exports.Set("NativeRingBuffer", InitRingBuffer(env));
  exports.Set("NativePerfBuffer", InitPerfBuffer(env));
  exports.Set("NativeGridRunner", InitGridRunner(env));
  exports.Set("NativeFd", InitFd(env));
  exports.Set("drainLog", Napi::Function::New(env, DrainLog));
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  exports.Set("probeProgType", Napi::Function::New(env, ProbeProgType));
  exports.Set("probeMapType", Napi::Function::New(env, ProbeMapType));
  InitCpu(env, exports);
  InitSys(env, exports);
  return exports;
}

NODE_API_MODULE(bpf_native, Init)

}  // namespace nbpf
