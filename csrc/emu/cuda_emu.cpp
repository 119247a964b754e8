// The runtime of the CUDA emulation (cuda_emu.h): launch checks, one OS thread per CUDA thread,
// block barriers, shared memory, warp exchange and the launch log.
//
// Synchronisation is mutexes and acquire/release atomics (waited on with C++20 atomic wait, a
// futex), which ThreadSanitizer models exactly: a race it reports between two threads of a block
// is a missing __syncthreads (or __syncwarp), not an artefact of the emulation. Waiters sleep on
// the atomic rather than on a condition variable, so releasing a barrier of 256 threads wakes
// each once, without all of them contending for one mutex again.
#include "cuda_emu.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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
    while (phase_.load(std::memory_order_acquire) == phase) {
      phase_.wait(phase, std::memory_order_acquire);
    }
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
    phase_.notify_all();
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
      workers_[i]->ticket.notify_one();
    }
    for (uint32_t left; (left = remaining_.load(std::memory_order_acquire)) != 0;) {
      remaining_.wait(left, std::memory_order_acquire);
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
      while (worker.ticket.load(std::memory_order_acquire) == seen) {
        worker.ticket.wait(seen, std::memory_order_acquire);
      }
      work(*job_, index);
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) remaining_.notify_all();
    }
  }

  Job* job_ = nullptr;  // written before the tickets are released
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint32_t> remaining_{0};
};

// Launch sites that ran, for the coverage report (FASTGAN_EMU_LAUNCH_LOG).
struct SiteStats {
  std::string file, kernel;
  int line;
  uint64_t launches = 0, max_blocks = 0, max_threads = 0;
};

struct Runtime {
  std::mutex launch_mutex;  // one launch at a time: one stream
  Pool pool;
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
    std::fprintf(f, "%s\t%d\t%s\t%llu\t%llu\t%llu\n", s.file.c_str(), s.line, s.kernel.c_str(),
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

void run(const LaunchSite& site, const void* kernel_id, dim3 grid, dim3 block,
         std::size_t shared_bytes, void (*body)(void*), void* context) {
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
  const std::string key = std::string(site.file) + ":" + std::to_string(site.line) + ":" + site.kernel;
  SiteStats& stats = r.sites[key];
  stats.file = site.file, stats.kernel = site.kernel, stats.line = site.line;
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
  r.pool.run(j);
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
