// The runtime of the CUDA emulation (cuda_emu.h): launch checks, the threads of a block, block
// barriers, shared memory, warp exchange and the launch log.
//
// Each CUDA thread of a block has its own stack and context, in one of two ways
// (FASTGAN_EMU_THREADS):
//   os      an OS thread per CUDA thread, waiting on futexes: what ThreadSanitizer needs to see
//           races between the threads of a block, so the sanitizer builds always run this way;
//   fibers  (the plain build's default) a fiber per CUDA thread, all on the launching thread,
//           switched in user space when one waits (a barrier, a warp operation) and resumed
//           round-robin. The same barriers and order of events, at a fraction of the cost: a
//           __syncthreads of 256 OS threads on two cores costs ~1 ms of kernel context switches,
//           which made the emulated op suite run for most of an hour.
//
// Synchronisation is mutexes and acquire/release atomics, which ThreadSanitizer models exactly: a
// race it reports between two threads of a block is a missing __syncthreads (or __syncwarp), not
// an artefact of the emulation. A waiter sleeps on its atomic with a futex at once: hundreds of
// CUDA threads share two cores, so spinning (as std::atomic::wait does first) or a condition
// variable (whose woken threads all contend for one mutex again) would cost far more.
#include "cuda_emu.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace fastgan::emu {
namespace {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kFibersAllowed = false;  // the sanitizers must see real threads and stacks
#else
constexpr bool kFibersAllowed = true;
#endif

bool use_fibers() {
  const char* env = std::getenv("FASTGAN_EMU_THREADS");
  const std::string mode = env != nullptr && *env != '\0' ? env : (kFibersAllowed ? "fibers" : "os");
  TORCH_CHECK(mode == "os" || mode == "fibers",
              "CUDA emulation: FASTGAN_EMU_THREADS must be os or fibers, got '", mode, "'");
  TORCH_CHECK(mode == "os" || kFibersAllowed,
              "CUDA emulation: the sanitizer builds run CUDA threads as OS threads only");
  return mode == "fibers";
}

// The fibers of the launch running on this OS thread (null: CUDA threads are OS threads).
class Fibers;
thread_local Fibers* current_fibers = nullptr;
void yield_fiber();
void note_wake();

// Waits until `word` no longer holds `value` (acquire): a fiber yields to the others, an OS
// thread sleeps on a futex. wake_all ends the waits on `word`.
void wait_while(const std::atomic<uint32_t>& word, uint32_t value) {
  while (word.load(std::memory_order_acquire) == value) {
    if (current_fibers != nullptr) {
      yield_fiber();
    } else {
      syscall(SYS_futex, reinterpret_cast<const uint32_t*>(&word), FUTEX_WAIT_PRIVATE, value,
              nullptr, nullptr, 0);
    }
  }
}
void wake_all(std::atomic<uint32_t>& word) {
  if (current_fibers != nullptr) {
    note_wake();
  } else {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX,
            nullptr, nullptr, 0);
  }
}

// A reusable barrier whose participants may leave for good (arrive_and_drop), as a thread that
// returns from a kernel leaves __syncthreads. The last arrival may run a completion while the
// others are still held.
class Barrier {
 public:
  void reset(int count) {
    std::lock_guard<std::mutex> lock(mutex_);
    expected_ = count;
    arrived_ = 0;
  }

  template <typename Completion>
  void arrive_and_wait(Completion&& completion) {
    uint32_t phase;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      phase = phase_.load(std::memory_order_relaxed);
      if (++arrived_ >= expected_) {
        completion();
        next_phase();
        return;
      }
    }
    wait_while(phase_, phase);
  }
  void arrive_and_wait() {
    arrive_and_wait([] {});
  }

  void arrive_and_drop() {
    std::lock_guard<std::mutex> lock(mutex_);
    --expected_;
    if (arrived_ > 0 && arrived_ >= expected_) next_phase();
  }

 private:
  void next_phase() {  // with mutex_ held
    arrived_ = 0;
    phase_.fetch_add(1, std::memory_order_release);
    wake_all(phase_);
  }

  std::mutex mutex_;
  int expected_ = 0, arrived_ = 0;
  std::atomic<uint32_t> phase_{0};
};

struct OperatorDelete {
  void operator()(void* p) const { ::operator delete(p, std::align_val_t(16)); }
};
using Buffer = std::unique_ptr<void, OperatorDelete>;

// Exactly `bytes` (so AddressSanitizer sees an overrun), 16-byte aligned as CUDA's shared memory.
Buffer allocate(std::size_t bytes) {
  return Buffer(::operator new(bytes, std::align_val_t(16)));
}

struct Warp {
  Barrier barrier;
  unsigned full = 0;  // the lanes this warp has (fewer than 32 in a partial last warp)
  std::atomic<unsigned> live{0};
  unsigned char slots[32][8];
};

struct StaticShared {
  const SharedSite* site;
  Buffer memory;
};

// One launch being run.
struct Job {
  LaunchSite site;
  void (*body)(void*);
  void* context;
  dim3 grid, block;
  int threads;
  std::vector<uint3> blocks;  // in the order they run
  std::size_t index = 0;      // the block running now

  std::size_t dynamic_bytes, shared_limit;
  Buffer dynamic;
  std::mutex shared_mutex;
  std::vector<StaticShared> statics;
  std::size_t static_bytes = 0;

  Barrier sync, end;
  std::vector<std::unique_ptr<Warp>> warps;
  std::vector<int> predicates;  // __syncthreads_count's votes, one per thread

  std::mutex error_mutex;
  std::string error;

  void fail(const std::string& what) {
    std::lock_guard<std::mutex> lock(error_mutex);
    if (error.empty()) error = what;
  }
  bool failed() {
    std::lock_guard<std::mutex> lock(error_mutex);
    return !error.empty();
  }

  // Arms the barriers and refills shared memory for block `index`. Runs while no thread of the
  // block is running.
  void start_block() {
    sync.reset(threads);
    for (auto& w : warps) {
      w->barrier.reset(__builtin_popcount(w->full));
      w->live.store(w->full);
    }
    std::fill(predicates.begin(), predicates.end(), 0);
    std::memset(dynamic.get(), 0xff, dynamic_bytes);
    for (auto& s : statics) std::memset(s.memory.get(), 0xff, s.site->bytes);
  }
};

thread_local Job* current_job = nullptr;
thread_local int current_thread = 0;

Job& job() {
  TORCH_CHECK(current_job != nullptr,
              "CUDA emulation: a device function (__syncthreads, shared memory, warp "
              "intrinsics) was called outside a kernel");
  return *current_job;
}

[[noreturn]] void device_error(const std::string& what) {
  const Job& j = job();
  throw std::runtime_error(what + " (thread " + std::to_string(threadIdx.x) + "," +
                           std::to_string(threadIdx.y) + "," + std::to_string(threadIdx.z) +
                           " of block " + std::to_string(blockIdx.x) + "," +
                           std::to_string(blockIdx.y) + "," + std::to_string(blockIdx.z) +
                           " of " + j.site.kernel + ")");
}

// One CUDA thread `tid` of every block of the job, in the job's block order.
void work(Job& j, int tid) {
  current_job = &j;
  current_thread = tid;
  threadIdx = uint3{tid % j.block.x, (tid / j.block.x) % j.block.y,
                    tid / (j.block.x * j.block.y)};
  blockDim = j.block;
  gridDim = j.grid;
  Warp& warp = *j.warps[tid / 32];
  for (;;) {
    blockIdx = j.blocks[j.index];
    try {
      j.body(j.context);
    } catch (const std::exception& e) {
      j.fail(e.what());
    } catch (...) {
      j.fail("unknown exception");
    }
    warp.live.fetch_and(~(1u << (tid % 32)));
    warp.barrier.arrive_and_drop();
    j.sync.arrive_and_drop();
    if (j.index + 1 == j.blocks.size()) break;  // the last block: nothing follows to wait for
    j.end.arrive_and_wait([&] {
      j.index = j.failed() ? j.blocks.size() : j.index + 1;
      if (j.index < j.blocks.size()) j.start_block();
    });
    if (j.index >= j.blocks.size()) break;
  }
  current_job = nullptr;
}

// Worker threads, kept between launches (creating a thousand threads per launch would cost more
// than the kernels); a launch of T threads wakes workers 0 .. T-1 only. They are never joined:
// the process ends with them parked.
class Pool {
 public:
  void run(Job& j) {
    grow(j.threads);
    job_ = &j;
    remaining_.store(static_cast<uint32_t>(j.threads), std::memory_order_relaxed);
    for (int i = 0; i < j.threads; ++i) {
      workers_[i]->ticket.fetch_add(1, std::memory_order_release);
      wake_all(workers_[i]->ticket);
    }
    for (uint32_t left; (left = remaining_.load(std::memory_order_acquire)) != 0;) {
      wait_while(remaining_, left);
    }
  }

 private:
  struct Worker {
    std::atomic<uint32_t> ticket{0};
  };

  void grow(int n) {
    while (static_cast<int>(workers_.size()) < n) {
      workers_.push_back(std::make_unique<Worker>());
      std::thread([this, index = static_cast<int>(workers_.size()) - 1,
                   worker = workers_.back().get()] { loop(index, *worker); })
          .detach();
    }
  }

  void loop(int index, Worker& worker) {
    for (uint32_t seen = 0;; ++seen) {
      wait_while(worker.ticket, seen);
      work(*job_, index);
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) wake_all(remaining_);
    }
  }

  Job* job_ = nullptr;  // written before the tickets are released
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint32_t> remaining_{0};
};

// The CUDA threads of a launch as fibers on the calling thread: each runs work() on a stack of
// its own until it waits, then the next runs; round-robin until all have finished. The
// thread-locals a kernel reads (threadIdx, blockIdx, ...) are saved and restored per fiber.
class Fibers {
 public:
  void run(Job& j) {
    job_ = &j;
    const int n = j.threads;
    while (static_cast<int>(fibers_.size()) < n) fibers_.push_back(std::make_unique<Fiber>());
    for (int t = 0; t < n; ++t) {
      Fiber& f = *fibers_[t];
      getcontext(&f.context);
      f.context.uc_stack.ss_sp = f.stack.get();
      f.context.uc_stack.ss_size = kStackBytes;
      f.context.uc_link = &scheduler_;
      makecontext(&f.context, &Fibers::entry, 0);
      f.finished = false;
      f.state = State{};
    }
    Fibers* const outer = current_fibers;
    const State caller = save();
    current_fibers = this;
    int left = n;
    bool deadlocked = false;
    while (left > 0 && !deadlocked) {
      const uint64_t wakes = wakes_;
      bool finished_any = false;
      for (int t = 0; t < n; ++t) {
        Fiber& f = *fibers_[t];
        if (f.finished) continue;
        running_ = t;
        restore(f.state);
        swapcontext(&scheduler_, &f.context);
        f.state = save();
        if (f.finished) --left, finished_any = true;
      }
      // A whole round in which nobody finished and no wait ended: every thread waits for one
      // that never comes. The waiting fibers are abandoned (their stacks are reused).
      deadlocked = left > 0 && !finished_any && wakes_ == wakes;
    }
    current_fibers = outer;
    restore(caller);
    TORCH_CHECK(!deadlocked, "CUDA emulation: launch of ", j.site.kernel, " (", j.site.file, ":",
                j.site.line, ") deadlocked: ", left, " threads wait at a __syncthreads or warp "
                "operation that the other threads of their block or warp never reach");
  }

  void yield() { swapcontext(&fibers_[running_]->context, &scheduler_); }
  void wake() { ++wakes_; }

 private:
  static constexpr std::size_t kStackBytes = 256 * 1024;

  struct State {
    uint3 thread_idx{}, block_idx{};
    dim3 block_dim{}, grid_dim{};
    Job* job = nullptr;
    int thread = 0;
  };
  struct Fiber {
    ucontext_t context;
    std::unique_ptr<char[]> stack{new char[kStackBytes]};
    bool finished = false;
    State state;
  };

  static State save() {
    return State{threadIdx, blockIdx, blockDim, gridDim, current_job, current_thread};
  }
  static void restore(const State& s) {
    threadIdx = s.thread_idx, blockIdx = s.block_idx, blockDim = s.block_dim;
    gridDim = s.grid_dim, current_job = s.job, current_thread = s.thread;
  }

  static void entry() {
    Fibers& self = *current_fibers;
    const int t = self.running_;
    work(*self.job_, t);
    self.fibers_[t]->finished = true;
  }  // returns to scheduler_ (uc_link)

  Job* job_ = nullptr;
  ucontext_t scheduler_;
  std::vector<std::unique_ptr<Fiber>> fibers_;
  int running_ = 0;
  uint64_t wakes_ = 0;
};

void yield_fiber() { current_fibers->yield(); }
void note_wake() { current_fibers->wake(); }

// Launch sites and instantiations that ran, for the coverage report (FASTGAN_EMU_LAUNCH_LOG).
struct SiteStats {
  std::string file, kernel, signature;
  int line;
  uint64_t launches = 0, max_blocks = 0, max_threads = 0;
};

struct Runtime {
  std::mutex launch_mutex;  // one launch at a time: one stream
  Pool pool;
  Fibers fibers;
  std::mutex optin_mutex;
  std::map<const void*, int> optin;  // cudaFuncSetAttribute's dynamic shared memory per kernel
  std::map<std::string, SiteStats> sites;
  uint64_t launches = 0;
};

void write_launch_log();

Runtime& runtime() {
  // Never destroyed: parked workers may outlive static destruction.
  static Runtime* r = [] {
    auto* rt = new Runtime();
    if (std::getenv("FASTGAN_EMU_LAUNCH_LOG") != nullptr) std::atexit(write_launch_log);
    return rt;
  }();
  return *r;
}

void write_launch_log() {
  const char* path = std::getenv("FASTGAN_EMU_LAUNCH_LOG");
  Runtime& r = runtime();
  std::lock_guard<std::mutex> lock(r.launch_mutex);
  std::FILE* f = std::fopen(path, "a");
  if (f == nullptr) return;
  for (const auto& [key, s] : r.sites) {
    std::fprintf(f, "%s\t%d\t%s\t%s\t%llu\t%llu\t%llu\n", s.file.c_str(), s.line,
                 s.kernel.c_str(), s.signature.c_str(),
                 static_cast<unsigned long long>(s.launches),
                 static_cast<unsigned long long>(s.max_blocks),
                 static_cast<unsigned long long>(s.max_threads));
  }
  std::fclose(f);
}

std::string dims(const dim3& d) {
  return "(" + std::to_string(d.x) + ", " + std::to_string(d.y) + ", " + std::to_string(d.z) + ")";
}

std::vector<uint3> block_order(const dim3& grid, uint64_t launch) {
  std::vector<uint3> order;
  order.reserve(static_cast<std::size_t>(grid.x) * grid.y * grid.z);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) order.push_back(uint3{x, y, z});
  const char* env = std::getenv("FASTGAN_EMU_BLOCK_ORDER");
  const std::string mode = env != nullptr && *env != '\0' ? env : "random";
  if (mode == "reverse") {
    std::reverse(order.begin(), order.end());
  } else if (mode == "random") {
    const char* seed = std::getenv("FASTGAN_EMU_SEED");
    std::mt19937_64 rng((seed != nullptr ? std::strtoull(seed, nullptr, 10) : 0) * 1000003 + launch);
    std::shuffle(order.begin(), order.end(), rng);
  } else {
    TORCH_CHECK(mode == "forward", "CUDA emulation: FASTGAN_EMU_BLOCK_ORDER must be forward, "
                "reverse or random, got '", mode, "'");
  }
  return order;
}

}  // namespace

void set_max_dynamic_shared(const void* kernel_id, int bytes) {
  TORCH_CHECK(bytes >= 0 && bytes <= kOptinSharedBytes,
              "CUDA emulation: cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize, ",
              bytes, "): sm_90 allows at most ", kOptinSharedBytes, " bytes per block");
  Runtime& r = runtime();
  std::lock_guard<std::mutex> lock(r.optin_mutex);
  r.optin[kernel_id] = bytes;
}

void run(const LaunchSite& site, const char* signature, const void* kernel_id, dim3 grid,
         dim3 block, std::size_t shared_bytes, void (*body)(void*), void* context) {
  const auto where = [&] {
    return std::string("CUDA emulation: launch of ") + site.kernel + " (" + site.file + ":" +
           std::to_string(site.line) + ")";
  };
  static const char* const kAxes[] = {"x", "y", "z"};
  for (int d = 0; d < 3; ++d) {
    TORCH_CHECK(!(grid.truncated & (1 << d)), where(), ": grid.", kAxes[d],
                " was negative or above 2^32 - 1 and would be truncated by dim3");
    TORCH_CHECK(!(block.truncated & (1 << d)), where(), ": block.", kAxes[d],
                " was negative or above 2^32 - 1 and would be truncated by dim3");
  }
  TORCH_CHECK(grid.x >= 1 && grid.y >= 1 && grid.z >= 1, where(), ": grid ", dims(grid),
              " has no blocks (every dimension must be at least 1)");
  TORCH_CHECK(block.x >= 1 && block.y >= 1 && block.z >= 1, where(), ": block ", dims(block),
              " has no threads (every dimension must be at least 1)");
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  TORCH_CHECK(threads <= kMaxThreadsPerBlock && block.z <= kMaxBlockZ, where(), ": block ",
              dims(block), " has ", threads, " threads; sm_90 allows at most ",
              kMaxThreadsPerBlock, " threads per block, and block.z <= ", kMaxBlockZ);
  TORCH_CHECK(grid.x <= kMaxGridX, where(), ": grid.x = ", grid.x, " exceeds sm_90's limit of ",
              kMaxGridX);
  TORCH_CHECK(grid.y <= kMaxGridYZ && grid.z <= kMaxGridYZ, where(), ": grid ", dims(grid),
              " exceeds sm_90's limit of ", kMaxGridYZ, " for grid.y and grid.z");
  Runtime& r = runtime();
  std::size_t limit = kDefaultSharedBytes;
  {
    std::lock_guard<std::mutex> lock(r.optin_mutex);
    const auto it = r.optin.find(kernel_id);
    if (it != r.optin.end()) limit = std::max<std::size_t>(limit, it->second);
  }
  TORCH_CHECK(shared_bytes <= limit, where(), ": ", shared_bytes,
              " bytes of dynamic shared memory exceed the kernel's limit of ", limit,
              " bytes; above ", kDefaultSharedBytes,
              " a kernel must opt in with cudaFuncSetAttribute("
              "cudaFuncAttributeMaxDynamicSharedMemorySize), up to ", kOptinSharedBytes);

  std::lock_guard<std::mutex> lock(r.launch_mutex);
  // The instantiation, from `signature` ("... [with auto kKernel = <kernel>; ...]").
  std::string params = signature;
  const auto open = params.find("kKernel = ");
  if (open != std::string::npos) {
    params = params.substr(open + 10, params.find_first_of(";]", open) - open - 10);
  }
  const std::string key = std::string(site.file) + ":" + std::to_string(site.line) + ":" + params;
  SiteStats& stats = r.sites[key];
  stats.file = site.file, stats.kernel = site.kernel, stats.line = site.line;
  stats.signature = params;
  const uint64_t n_blocks = uint64_t(grid.x) * grid.y * grid.z;
  ++stats.launches;
  stats.max_blocks = std::max(stats.max_blocks, n_blocks);
  stats.max_threads = std::max(stats.max_threads, threads);

  Job j;
  j.site = site, j.body = body, j.context = context;
  j.grid = grid, j.block = block;
  j.threads = static_cast<int>(threads);
  j.blocks = block_order(grid, r.launches++);
  j.dynamic_bytes = shared_bytes;
  j.shared_limit = limit;
  j.dynamic = allocate(shared_bytes);
  j.end.reset(j.threads);
  for (int w = 0; w * 32 < j.threads; ++w) {
    auto warp = std::make_unique<Warp>();
    const int lanes = std::min(32, j.threads - 32 * w);
    warp->full = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
    j.warps.push_back(std::move(warp));
  }
  j.predicates.assign(j.threads, 0);
  j.start_block();
  if (use_fibers()) {
    r.fibers.run(j);
  } else {
    r.pool.run(j);
  }
  TORCH_CHECK(j.error.empty(), where(), " with grid ", dims(grid), " and block ", dims(block),
              ": ", j.error);
}

void* static_shared(const SharedSite* site) {
  Job& j = job();
  std::lock_guard<std::mutex> lock(j.shared_mutex);
  for (const auto& s : j.statics) {
    if (s.site == site) return s.memory.get();
  }
  const std::size_t total = j.static_bytes + site->bytes;
  if (total > kDefaultSharedBytes || total + j.dynamic_bytes > j.shared_limit) {
    device_error("static shared memory of " + std::to_string(total) + " bytes (plus " +
                 std::to_string(j.dynamic_bytes) + " dynamic) exceeds sm_90's limit (" +
                 std::to_string(kDefaultSharedBytes) + " static, " +
                 std::to_string(j.shared_limit) + " in all for this kernel)");
  }
  TORCH_CHECK(site->align <= 16, "CUDA emulation: shared memory aligned to more than 16 bytes");
  j.statics.push_back(StaticShared{site, allocate(site->bytes)});
  j.static_bytes = total;
  std::memset(j.statics.back().memory.get(), 0xff, site->bytes);
  return j.statics.back().memory.get();
}

void* dynamic_shared() { return job().dynamic.get(); }

void syncthreads() { job().sync.arrive_and_wait(); }

int syncthreads_count(int predicate) {
  Job& j = job();
  j.predicates[current_thread] = predicate != 0;
  j.sync.arrive_and_wait();
  int count = 0;
  for (const int p : j.predicates) count += p;
  j.sync.arrive_and_wait();  // every thread has counted before the votes can change
  return count;
}

namespace {
Warp& this_warp(unsigned mask, const char* what) {
  Job& j = job();
  Warp& w = *j.warps[current_thread / 32];
  const unsigned live = w.live.load();
  if (mask != w.full || live != w.full) {
    char text[160];
    std::snprintf(text, sizeof(text),
                  "%s with mask 0x%08x: the emulation needs every lane of the warp (0x%08x) to "
                  "take part, and lanes 0x%08x have returned",
                  what, mask, w.full, w.full & ~live);
    device_error(text);
  }
  return w;
}
}  // namespace

void warp_exchange(unsigned mask, const void* value, void* result, std::size_t bytes,
                   int (*source_lane)(int lane, int arg, int width), int arg, int width,
                   const char* what) {
  Warp& w = this_warp(mask, what);
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    device_error(std::string(what) + ": width must be a power of 2 up to 32, got " +
                 std::to_string(width));
  }
  const int lane = current_thread % 32;
  std::memcpy(w.slots[lane], value, bytes);
  w.barrier.arrive_and_wait();
  int source = source_lane(lane, arg, width);
  // A source lane outside a partial last warp reads the caller's own value, as on the GPU.
  if (!(w.full & (1u << source))) source = lane;
  std::memcpy(result, w.slots[source], bytes);
  w.barrier.arrive_and_wait();
}

unsigned warp_ballot(unsigned mask, bool predicate) {
  Warp& w = this_warp(mask, "__ballot_sync");
  const int lane = current_thread % 32;
  w.slots[lane][0] = predicate ? 1 : 0;
  w.barrier.arrive_and_wait();
  unsigned ballot = 0;
  for (int l = 0; l < 32; ++l) {
    if ((w.full & (1u << l)) && w.slots[l][0]) ballot |= 1u << l;
  }
  w.barrier.arrive_and_wait();
  return ballot;
}

void syncwarp(unsigned mask) { this_warp(mask, "__syncwarp").barrier.arrive_and_wait(); }

unsigned active_mask() { return job().warps[current_thread / 32]->live.load(); }

void threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

}  // namespace fastgan::emu
