// CPU-pinned test runs: each run happens on a fresh native thread pinned to its CPU, so
// neither the JS thread nor libuv's pool threads ever change affinity.
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

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

void RunPinned(int progFd, const std::vector<uint8_t>& ctxIn, uint32_t ctxOutBytes, CpuRun* r) {
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
  std::vector<uint8_t> in(ctxIn);
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

// Starts one thread per run, then joins them. A thread that cannot be started (EAGAIN:
// out of threads or pids) leaves that run and the ones after it failed with its errno;
// the threads already started are joined, never left joinable (std::terminate).
void RunAll(int progFd, const std::vector<uint8_t>& ctxIn, uint32_t ctxOutBytes, std::vector<CpuRun>& runs) {
  std::vector<std::thread> threads;
  threads.reserve(runs.size());
  size_t started = 0;
  int startErr = 0;
  for (; started < runs.size(); started++) {
    try {
      threads.emplace_back(RunPinned, progFd, std::cref(ctxIn), ctxOutBytes, &runs[started]);
    } catch (const std::system_error& e) {
      startErr = e.code().value() ? e.code().value() : EAGAIN;
      break;
    } catch (...) {
      startErr = ENOMEM;
      break;
    }
  }
  for (size_t i = started; i < runs.size(); i++) runs[i].err = startErr;
  for (auto& t : threads) t.join();
}

class RunOnCpusWorker : public SafeAsyncWorker {
 public:
  RunOnCpusWorker(Napi::Env env, int progFd, std::vector<uint32_t> cpus, std::vector<uint8_t> ctxIn, uint32_t ctxOutBytes)
      : SafeAsyncWorker(env, "bpf:runOnCpus"), deferred_(Napi::Promise::Deferred::New(env)), fd_(progFd),
        ctxIn_(std::move(ctxIn)), ctxOutBytes_(ctxOutBytes) {
    for (uint32_t c : cpus) runs_.push_back(CpuRun{c});
  }
  ~RunOnCpusWorker() override {
    if (fd_ >= 0) close(fd_);
  }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { RunAll(fd_, ctxIn_, ctxOutBytes_, runs_); }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, runs_.size());
    for (size_t i = 0; i < runs_.size(); i++) {
      const CpuRun& r = runs_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("cpu", r.cpu);
      o.Set("ranOn", r.ranOn);
      o.Set("errno", r.err);
      o.Set("retval", r.retval);
      o.Set("durationNs", r.durationNs);
      o.Set("ctxOut", r.err ? env.Null() : Napi::Value(Napi::Buffer<uint8_t>::Copy(env, r.ctxOut.data(), r.ctxOut.size())));
      out.Set(i, o);
    }
    deferred_.Resolve(out);
  }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  std::vector<uint8_t> ctxIn_;
  uint32_t ctxOutBytes_;
  std::vector<CpuRun> runs_;
};

}  // namespace

// progRunOnCpus(index, cpus: number[], ctxIn | null, ctxOutBytes) -> Promise<CpuRun[]>
// With ctxOutBytes 0, ctxOut is ctxIn as the run left it (syscall programs write there).
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
  std::vector<uint8_t> ctxIn;
  if (!ArgIsNullish(info, 2)) {
    auto b = ArgBuffer(info, 2, "ctxIn");
    ctxIn.assign(b.Data(), b.Data() + b.Length());
  }
  uint32_t ctxOutBytes = ArgU32(info, 3, "ctxOutBytes");
  // The worker owns a duplicate so that closing the object meanwhile cannot make the
  // number point at something else.
  int dupFd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dupFd < 0) ThrowErrno(env, "fcntl(F_DUPFD_CLOEXEC)", errno);
  RunOnCpusWorker* worker;
  try {
    worker = new RunOnCpusWorker(env, dupFd, std::move(cpus), std::move(ctxIn), ctxOutBytes);
  } catch (...) {
    close(dupFd);
    throw;
  }
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
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
