// CPU-pinned test runs: each run happens on a fresh native thread pinned to its CPU, so
// neither the JS thread nor libuv's pool threads ever change affinity.
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>
#include <thread>

namespace nbpf {

namespace {

struct CpuRun {
  uint32_t cpu = 0;
  int ranOn = -1;    // CPU the thread was on when it ran (sched_getcpu)
  int err = 0;       // positive errno of the pinning or of the test run
  uint32_t retval = 0;
  uint32_t durationNs = 0;
  std::vector<uint8_t> ctxOut;
};

void RunPinned(int progFd, const std::vector<uint8_t>* ctxIn, uint32_t ctxOutBytes, CpuRun* r) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(r->cpu, &set);
  int err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  if (err) {
    r->err = err;
    return;
  }
  r->ranOn = sched_getcpu();
  if (r->ranOn != static_cast<int>(r->cpu)) {
    r->err = EAGAIN;
    return;
  }
  LIBBPF_OPTS(bpf_test_run_opts, o);
  std::vector<uint8_t> in(*ctxIn);
  r->ctxOut.resize(ctxOutBytes);
  if (!in.empty()) {
    o.ctx_in = in.data();
    o.ctx_size_in = in.size();
  }
  if (ctxOutBytes) {
    o.ctx_out = r->ctxOut.data();
    o.ctx_size_out = ctxOutBytes;
  }
  int rc = bpf_prog_test_run_opts(progFd, &o);
  // Check again after the run: a CPU going offline meanwhile would move the thread.
  int after = sched_getcpu();
  if (rc) {
    r->err = -rc;
    return;
  }
  if (after != r->ranOn) r->ranOn = after;
  r->retval = o.retval;
  r->durationNs = o.duration;
  // Syscall programs take no ctx_out: the kernel writes back into ctx_in instead.
  if (ctxOutBytes) r->ctxOut.resize(o.ctx_size_out);
  else r->ctxOut = std::move(in);
}

// One runOnCpus call. Its threads, one per run, are started right here on the JS thread
// (as a C program starts its own), not from a libuv pool thread that would first have to
// wake up and then start them. The last run to finish closes the program fd and hands the
// results to the JS thread through a thread-safe function, which joins the threads before
// it settles the promise; the function's finalizer (on the JS thread, once no run can
// touch it, also when the environment goes away first) joins what is left and frees the job.
class PinnedRuns {
 public:
  PinnedRuns(int progFd, std::vector<uint32_t> cpus, std::vector<std::vector<uint8_t>> ctxIns, uint32_t ctxOutBytes)
      : fd_(progFd), ctxIns_(std::move(ctxIns)), ctxOutBytes_(ctxOutBytes) {
    for (uint32_t c : cpus) runs_.push_back(CpuRun{c});
  }
  ~PinnedRuns() {
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    if (fd_ >= 0) close(fd_);
  }

  // Starts the runs; the promise settles with their results. A thread that cannot be
  // started (EAGAIN: out of threads or pids) leaves that run and the ones after it failed
  // with its errno. Owns itself from here on: the finalizer deletes it.
  Napi::Promise Start(Napi::Env env) {
    napi_value promise, name;
    if (napi_create_promise(env, &deferred_, &promise) != napi_ok ||
        napi_create_string_utf8(env, "bpf:runOnCpus", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, this, Finalize, this, Settle, &tsfn_) != napi_ok) {
      delete this;
      ThrowErrno(env, "runOnCpus (thread-safe function)", ENOMEM);
    }
    pending_.store(runs_.size());
    threads_.reserve(runs_.size());
    size_t started = 0;
    int startErr = 0;
    for (; started < runs_.size(); started++) {
      try {
        threads_.emplace_back(&PinnedRuns::RunOne, this, started);
      } catch (const std::system_error& e) {
        startErr = e.code().value() ? e.code().value() : EAGAIN;
        break;
      } catch (...) {
        startErr = ENOMEM;
        break;
      }
    }
    for (size_t i = started; i < runs_.size(); i++) {
      runs_[i].err = startErr;
      Done();
    }
    if (runs_.empty()) Finish();
    return Napi::Promise(env, promise);
  }

 private:
  void RunOne(size_t i) {
    RunPinned(fd_, &ctxIns_[ctxIns_.size() == 1 ? 0 : i], ctxOutBytes_, &runs_[i]);
    Done();
  }

  // The last run done closes the program fd and hands over; it touches nothing of the
  // job after the release.
  void Done() {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    close(fd_);
    fd_ = -1;
    Finish();
  }

  void Finish() {
    napi_call_threadsafe_function(tsfn_, nullptr, napi_tsfn_nonblocking);
    napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
  }

  // On the JS thread; env is null when the environment is being torn down.
  static void Settle(napi_env env, napi_value, void* context, void*) {
    if (env == nullptr) return;
    auto* self = static_cast<PinnedRuns*>(context);
    // Every run is over: the threads are gone before the promise settles, as joined ones.
    for (auto& t : self->threads_)
      if (t.joinable()) t.join();
    try {
      Napi::Env e(env);
      Napi::HandleScope scope(e);
      Napi::Array out = Napi::Array::New(e, self->runs_.size());
      for (size_t i = 0; i < self->runs_.size(); i++) {
        const CpuRun& r = self->runs_[i];
        Napi::Object o = Napi::Object::New(e);
        o.Set("cpu", r.cpu);
        o.Set("ranOn", r.ranOn);
        o.Set("errno", r.err);
        o.Set("retval", r.retval);
        o.Set("durationNs", r.durationNs);
        o.Set("ctxOut", r.err ? e.Null() : Napi::Value(Napi::Buffer<uint8_t>::Copy(e, r.ctxOut.data(), r.ctxOut.size())));
        out.Set(i, o);
      }
      napi_resolve_deferred(env, self->deferred_, out);
    } catch (...) {
      // The environment is going away: there is nobody left to tell.
    }
  }

  static void Finalize(napi_env, void* data, void*) { delete static_cast<PinnedRuns*>(data); }

  int fd_;
  std::vector<std::vector<uint8_t>> ctxIns_;
  uint32_t ctxOutBytes_;
  std::vector<CpuRun> runs_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> pending_{0};
  napi_deferred deferred_ = nullptr;
  napi_threadsafe_function tsfn_ = nullptr;
};

}  // namespace

// progRunOnCpus(index, cpus: number[], ctxIn | ctxIn[] | null, ctxOutBytes) -> Promise<CpuRun[]>
// ctxIn is every run's context, or an array of one per CPU. With ctxOutBytes 0, ctxOut is
// the run's ctxIn as the run left it (syscall programs write there).
Napi::Value NativeObject::ProgRunOnCpus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = bpf_program__fd(ProgAt(info, 0));
  if (fd < 0) ThrowErrno(env, "runOnCpus (program not loaded)", EBADF);
  if (info.Length() < 2 || !info[1].IsArray()) ThrowType(env, "cpus must be an array");
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<uint32_t> cpus;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsNumber()) ThrowType(env, "cpus must hold numbers");
    uint32_t c = v.As<Napi::Number>().Uint32Value();
    if (c >= CPU_SETSIZE) ThrowType(env, "cpu number out of range");
    cpus.push_back(c);
  }
  std::vector<std::vector<uint8_t>> ctxIns(1);
  if (info.Length() > 2 && info[2].IsArray()) {
    Napi::Array list = info[2].As<Napi::Array>();
    if (list.Length() != cpus.size()) ThrowType(env, "ctxIn must hold one Buffer per CPU");
    ctxIns.resize(list.Length());
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value v = list.Get(i);
      if (!v.IsBuffer()) ThrowType(env, "ctxIn must hold Buffers");
      auto b = v.As<Napi::Buffer<uint8_t>>();
      ctxIns[i].assign(b.Data(), b.Data() + b.Length());
    }
  } else if (!ArgIsNullish(info, 2)) {
    auto b = ArgBuffer(info, 2, "ctxIn");
    ctxIns[0].assign(b.Data(), b.Data() + b.Length());
  }
  uint32_t ctxOutBytes = ArgU32(info, 3, "ctxOutBytes");
  // The runs own a duplicate so that closing the object meanwhile cannot make the number
  // point at something else.
  int dupFd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dupFd < 0) ThrowErrno(env, "fcntl(F_DUPFD_CLOEXEC)", errno);
  PinnedRuns* runs;
  try {
    runs = new PinnedRuns(dupFd, std::move(cpus), std::move(ctxIns), ctxOutBytes);
  } catch (...) {
    close(dupFd);
    throw;
  }
  return runs->Start(env);
}

// currentCpu() -> the CPU the JS thread is running on right now (sched_getcpu)
static Napi::Value CurrentCpu(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), sched_getcpu());
}

// threadAffinity() -> CPUs the calling (JS) thread may run on
static Napi::Value ThreadAffinity(const Napi::CallbackInfo& info) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set)) ThrowErrno(info.Env(), "sched_getaffinity", errno);
  Napi::Array out = Napi::Array::New(info.Env());
  uint32_t n = 0;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &set)) out.Set(n++, c);
  return out;
}

void InitCpu(Napi::Env env, Napi::Object exports) {
  exports.Set("currentCpu", Napi::Function::New(env, CurrentCpu));
  exports.Set("threadAffinity", Napi::Function::New(env, ThreadAffinity));
}

}  // namespace nbpf
