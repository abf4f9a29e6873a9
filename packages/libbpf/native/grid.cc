// Grid runs: a native thread pinned to one CPU runs a program (BPF_PROG_TEST_RUN, e.g. a
// SEC("syscall") program) at every multiple of an interval on CLOCK_MONOTONIC or
// CLOCK_REALTIME, sleeping with clock_nanosleep(TIMER_ABSTIME) in between, and counts late
// and missed runs. The mechanism only: the policy (priority, when to use it, what the program
// does, what counts as a clock step) lives in TypeScript.
//
// A realtime grid still sleeps on CLOCK_MONOTONIC, to the monotonic instant of each realtime
// grid point (realtime - monotonic read at every wake-up): a sleeper on CLOCK_REALTIME would,
// after the clock is set back, sleep until the old time came round again. A change of that
// offset above stepNs is a clock step: the thread re-aligns to the next grid point of the new
// time without running, and counts it.
//
// The program's context, written by the thread before each run (48 bytes, little-endian):
//   u64 nominal_ns   the grid point of this run
//   u64 interval_ns
//   u64 index        nominal_ns / interval_ns
//   u64 missed       grid points skipped so far (the thread woke after the next one)
//   u64 runs         runs before this one
//   u32 cpu          the CPU the thread is pinned to
//   u32 flags        bit 0: the grid (index) is on CLOCK_REALTIME; nominal_ns stays monotonic
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <future>
#include <thread>

namespace nbpf {

namespace {

struct GridRunCtx {
  uint64_t nominal_ns;
  uint64_t interval_ns;
  uint64_t index;
  uint64_t missed;
  uint64_t runs;
  uint32_t cpu;
  uint32_t flags;
};
static_assert(sizeof(GridRunCtx) == 48, "grid run ctx");

// Longest single sleep: a stop request is seen within this (or one interval, if shorter).
constexpr uint64_t kMaxSleepNs = 50'000'000;
// A realtime reading bracketed by monotonic ones further apart than this is not used.
constexpr uint64_t kMaxClockReadNs = 10'000;
constexpr uint32_t kFlagRealtime = 1;

uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t MonotonicNs() { return ClockNs(CLOCK_MONOTONIC); }

// realtime - monotonic (wrapping u64 for s64) and the monotonic time it belongs to; false
// when the realtime read was not bracketed tightly (preempted in between).
bool RealtimeOffset(uint64_t* offset, uint64_t* mono) {
  uint64_t before = MonotonicNs();
  uint64_t real = ClockNs(CLOCK_REALTIME);
  uint64_t after = MonotonicNs();
  *mono = after;
  if (after - before > kMaxClockReadNs) return false;
  *offset = real - (before + (after - before) / 2);
  return true;
}

timespec ToTimespec(uint64_t ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000ull);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000ull);
  return ts;
}

// How a start failed: the stage names what the TS layer reports.
struct Setup {
  int err = 0;
  const char* stage = "";
};

}  // namespace

class NativeGridRunner : public Napi::ObjectWrap<NativeGridRunner> {
 public:
  static constexpr napi_type_tag kTag{0x6e627066'67726964ULL, 0x8a1c'4f0e'93d2'0003ULL};
  static constexpr const char* kName = "NativeGridRunner";
  explicit NativeGridRunner(const Napi::CallbackInfo& info);
  ~NativeGridRunner() override { Release(); }
  // Stops the thread and waits for it; idempotent.
  void Release();

 private:
  friend Napi::Function InitGridRunner(Napi::Env env);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value RequestStop(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  void Loop(std::promise<Setup> ready);

  int fd_ = -1;
  uint32_t cpu_ = 0;
  uint64_t interval_ = 0;
  int priority_ = 0;
  bool kick_ = false;
  bool realtime_ = false;
  uint64_t stepNs_ = 0;
  uint64_t lateNs_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stopped_{false};  // the thread ended by itself (wrong CPU)
  std::atomic<uint64_t> runs_{0}, missed_{0}, late_{0}, wrongCpu_{0}, errors_{0};
  std::atomic<uint64_t> sumLateNs_{0}, maxLateNs_{0}, lastNominal_{0}, next_{0};
  std::atomic<uint64_t> clockSteps_{0}, lastIndex_{0};
  std::atomic<int64_t> lastStepNs_{0};
  std::atomic<int> lastErrno_{0};
  std::atomic<int> lastRetval_{0};
  bool registered_ = false;
};

// new NativeGridRunner(progFd, cpu, intervalNs: bigint, priority, kick, lateNs: bigint,
//                      realtime: boolean, stepNs: bigint)
// Returns once the thread is pinned to `cpu` (checked with sched_getcpu) and scheduled as
// asked (priority > 0: SCHED_FIFO at that priority; 0: the default policy); throws the
// errno of the stage that failed otherwise ("pin", "scheduling").
NativeGridRunner::NativeGridRunner(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeGridRunner>(info) {
  TagInstance<NativeGridRunner>(info);
  Napi::Env env = info.Env();
  int32_t progFd = ArgI32(info, 0, "progFd");
  cpu_ = ArgU32(info, 1, "cpu");
  if (cpu_ >= CPU_SETSIZE) ThrowType(env, "cpu number out of range");
  if (info.Length() < 3 || !info[2].IsBigInt()) ThrowType(env, "intervalNs must be a bigint");
  bool lossless = false;
  interval_ = info[2].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || interval_ == 0) ThrowType(env, "intervalNs must be a positive 64-bit bigint");
  priority_ = ArgI32(info, 3, "priority");
  if (info.Length() < 5 || !info[4].IsBoolean()) ThrowType(env, "kick must be a boolean");
  kick_ = info[4].As<Napi::Boolean>().Value();
  if (info.Length() < 6 || !info[5].IsBigInt()) ThrowType(env, "lateNs must be a bigint");
  lateNs_ = info[5].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) ThrowType(env, "lateNs must be a 64-bit bigint");
  if (info.Length() < 8 || !info[6].IsBoolean() || !info[7].IsBigInt()) ThrowType(env, "realtime must be a boolean and stepNs a bigint");
  realtime_ = info[6].As<Napi::Boolean>().Value();
  stepNs_ = info[7].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) ThrowType(env, "stepNs must be a 64-bit bigint");

  // The runner owns a duplicate: closing the program's object meanwhile cannot make the
  // number point at something else.
  fd_ = fcntl(progFd, F_DUPFD_CLOEXEC, 0);
  if (fd_ < 0) ThrowErrno(env, "gridRunner: fcntl(F_DUPFD_CLOEXEC) of the program fd", errno);

  std::promise<Setup> ready;
  std::future<Setup> setup = ready.get_future();
  try {
    thread_ = std::thread(&NativeGridRunner::Loop, this, std::move(ready));
  } catch (const std::system_error& e) {
    close(fd_);
    fd_ = -1;
    ThrowErrno(env, "gridRunner: starting the thread", e.code().value());
  }
  Setup s = setup.get();
  if (s.err) {
    thread_.join();
    close(fd_);
    fd_ = -1;
    ThrowErrno(env, std::string("gridRunner: ") + s.stage + " on CPU " + std::to_string(cpu_), s.err);
  }
  GetData(env)->liveGridRunners.insert(this);
  registered_ = true;
}

void NativeGridRunner::Loop(std::promise<Setup> ready) {
  Setup s;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu_, &set);
  s.err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  if (s.err) s.stage = "pin (pthread_setaffinity_np)";
  if (!s.err && sched_getcpu() != static_cast<int>(cpu_)) {
    s.err = EAGAIN;
    s.stage = "pin (the thread is not on its CPU after pthread_setaffinity_np)";
  }
  if (!s.err && priority_ > 0) {
    sched_param p{};
    p.sched_priority = priority_;
    s.err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
    if (s.err) s.stage = "scheduling (pthread_setschedparam SCHED_FIFO)";
  }
  // No slack: the wake-ups, and the kick below, are exact.
  if (!s.err) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  bool failed = s.err != 0;
  ready.set_value(s);
  if (failed) return;

  // The grid is index * interval on the grid's clock, monotonic + offset (0 on CLOCK_MONOTONIC).
  uint64_t offset = 0, mono = MonotonicNs();
  if (realtime_ && !RealtimeOffset(&offset, &mono)) offset = ClockNs(CLOCK_REALTIME) - mono;
  uint64_t index = (mono + offset) / interval_ + 1;
  uint64_t next = index * interval_ - offset;
  next_.store(next);
  while (!stop_.load(std::memory_order_relaxed)) {
    uint64_t now = MonotonicNs();
    uint64_t target = next > now && next - now > kMaxSleepNs ? now + kMaxSleepNs : next;
    timespec ts = ToTimespec(target);
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);  // EINTR: loop again
    if (stop_.load(std::memory_order_relaxed)) break;
    uint64_t fresh = 0;
    if (realtime_ && RealtimeOffset(&fresh, &mono)) {
      int64_t delta = static_cast<int64_t>(fresh - offset);
      offset = fresh;
      if (static_cast<uint64_t>(delta < 0 ? -delta : delta) > stepNs_) {
        clockSteps_.fetch_add(1);
        lastStepNs_.store(delta);
        index = (mono + offset) / interval_ + 1;
      }
      next = index * interval_ - offset;
      next_.store(next);
    }
    now = MonotonicNs();
    if (now < next) continue;  // a partial sleep (or an early return), or a clock step
    if (sched_getcpu() != static_cast<int>(cpu_)) {
      // The CPU went offline and the kernel moved the thread: stop, as the timers do.
      wrongCpu_.fetch_add(1);
      stopped_.store(true);
      break;
    }
    uint64_t late = now - next;
    GridRunCtx ctx{next, interval_, index, missed_.load(), runs_.load(), cpu_, realtime_ ? kFlagRealtime : 0};
    LIBBPF_OPTS(bpf_test_run_opts, o);
    o.ctx_in = &ctx;
    o.ctx_size_in = sizeof(ctx);
    int rc = bpf_prog_test_run_opts(fd_, &o);
    if (rc) {
      errors_.fetch_add(1);
      lastErrno_.store(-rc);
    } else if (o.retval != 0) {
      errors_.fetch_add(1);
      lastRetval_.store(static_cast<int>(o.retval));
    }
    if (kick_) {
      // An hrtimer that expires at once on this CPU: its hrtimer_expire_exit runs the
      // tracepoint programs right after the run instead of at this CPU's next expiry.
      timespec one{0, 1};
      clock_nanosleep(CLOCK_MONOTONIC, 0, &one, nullptr);
    }
    runs_.fetch_add(1);
    sumLateNs_.fetch_add(late);
    if (late > maxLateNs_.load()) maxLateNs_.store(late);
    if (late > lateNs_) late_.fetch_add(1);
    lastNominal_.store(next);
    lastIndex_.store(index);
    uint64_t after = MonotonicNs() + offset;
    if ((index + 1) * interval_ <= after) {
      missed_.fetch_add(after / interval_ - index);
      index = after / interval_ + 1;
    } else {
      index += 1;
    }
    next = index * interval_ - offset;
    next_.store(next);
  }
}

void NativeGridRunner::Release() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  if (registered_) {
    registered_ = false;
    GetData(Env())->liveGridRunners.erase(this);
  }
}

// stats() -> counters so far (BigInts), and whether the thread stopped by itself
Napi::Value NativeGridRunner::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  auto big = [&](const char* k, uint64_t v) { o.Set(k, Napi::BigInt::New(env, v)); };
  o.Set("cpu", cpu_);
  big("runs", runs_.load());
  big("missed", missed_.load());
  big("late", late_.load());
  big("wrongCpu", wrongCpu_.load());
  big("errors", errors_.load());
  big("sumLateNs", sumLateNs_.load());
  big("maxLateNs", maxLateNs_.load());
  big("lastNominalNs", lastNominal_.load());
  big("nextNs", next_.load());
  big("lastIndex", lastIndex_.load());
  big("clockSteps", clockSteps_.load());
  o.Set("lastStepNs", Napi::BigInt::New(env, lastStepNs_.load()));
  o.Set("lastErrno", lastErrno_.load());
  o.Set("lastRetval", lastRetval_.load());
  o.Set("stopped", stopped_.load());
  o.Set("running", thread_.joinable() && !stop_.load() && !stopped_.load());
  return o;
}

// requestStop(): the thread ends at its next wake-up (within min(interval, 50 ms)); stop()
// waits for it. Requesting on every runner first makes stopping N of them one wait.
Napi::Value NativeGridRunner::RequestStop(const Napi::CallbackInfo& info) {
  stop_.store(true);
  return info.Env().Undefined();
}

Napi::Value NativeGridRunner::Stop(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Function InitGridRunner(Napi::Env env) {
  return NativeGridRunner::DefineClass(env, "NativeGridRunner",
                                       {Method<NativeGridRunner, &NativeGridRunner::Stats>("stats"),
                                        Method<NativeGridRunner, &NativeGridRunner::RequestStop>("requestStop"),
                                        Method<NativeGridRunner, &NativeGridRunner::Stop>("stop")});
}

void ReleaseGridRunner(NativeGridRunner* r) { r->Release(); }

}  // namespace nbpf
