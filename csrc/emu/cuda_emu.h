// A SIMT emulation of the CUDA runtime for the CPU: the project's *_cuda.cu files, compiled by the
// host C++ compiler with FASTGAN_CUDA_EMU defined (csrc/common/cuda.h includes this header in
// place of CUDA's), run their kernels on CPU tensors. Nothing in a kernel's source is rewritten.
//
// The model (what makes a GPU bug visible on the CPU):
//   - every CUDA thread of a block is an OS thread; `__syncthreads` is a barrier that a thread
//     which returned from the kernel drops out of (as exited threads do on the GPU);
//   - blocks run one after another, in the order FASTGAN_EMU_BLOCK_ORDER says (forward, reverse,
//     random; random by default, seeded by FASTGAN_EMU_SEED), so a kernel that depends on the
//     order of its blocks gives different results;
//   - shared memory is filled with 0xFF bytes (NaN in every floating-point type) before every
//     block, so a read of shared memory that no thread of the block wrote shows as NaN; each
//     declaration is its own heap allocation, so AddressSanitizer sees an overrun of it;
//   - warp shuffles, votes and __syncwarp exchange values through a barrier of the warp's lanes,
//     and need every lane of the warp to take part (a narrower mask is an error);
//   - every launch is checked against sm_90's limits (threads per block, grid dimensions, a grid
//     dimension that did not fit dim3's 32 bits, static and dynamic shared memory with and
//     without cudaFuncSetAttribute's opt-in): a violation is a c10::Error naming the kernel, its
//     launch site and the limit.
// Host code in a launcher (ATen calls, AT_DISPATCH) runs as it is, on the CPU tensors.
//
// What it cannot show: speed, the GPU's memory model (every thread here sees a coherent memory),
// races between blocks (they never overlap), FMA contraction and fast-math precision.
#pragma once

#ifndef FASTGAN_CUDA_EMU
#error "cuda_emu.h is the CPU emulation of CUDA; include csrc/common/cuda.h instead"
#endif

#include <c10/core/Device.h>
#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <tuple>
#include <type_traits>
#include <utility>

// ---------------------------------------------------------------------------------------------
// Language: qualifiers are plain C++; the built-in index variables are thread-locals that the
// emulation sets for each thread it runs.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct uint3 {
  unsigned int x, y, z;
};

// CUDA's dim3, which also remembers whether a dimension it was given did not fit its 32 bits (a
// launch with such a grid is refused instead of silently running a truncated one).
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  unsigned char truncated = 0;  // bit d: dimension d was negative or above 2^32 - 1

  constexpr dim3() = default;
  template <typename X, typename Y = unsigned int, typename Z = unsigned int,
            typename = std::enable_if_t<std::is_integral_v<X> && std::is_integral_v<Y> &&
                                        std::is_integral_v<Z>>>
  constexpr dim3(X vx, Y vy = 1, Z vz = 1)  // NOLINT: implicit, as CUDA's
      : x(static_cast<unsigned int>(vx)),
        y(static_cast<unsigned int>(vy)),
        z(static_cast<unsigned int>(vz)),
        truncated(static_cast<unsigned char>((fits(vx) ? 0 : 1) | (fits(vy) ? 0 : 2) |
                                             (fits(vz) ? 0 : 4))) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}  // NOLINT
  constexpr operator uint3() const { return uint3{x, y, z}; }

 private:
  template <typename T>
  static constexpr bool fits(T v) {
    if constexpr (std::is_signed_v<T>) {
      return v >= 0 && static_cast<unsigned long long>(v) <= 0xffffffffull;
    } else {
      return static_cast<unsigned long long>(v) <= 0xffffffffull;
    }
  }
};

extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
constexpr int warpSize = 32;

// Device maths. CUDA declares float overloads of these in the global namespace; without them g++
// would resolve `abs(x)` for a float x to ::abs(int).
using std::abs;
using std::ceil;
using std::cos;
using std::erf;
using std::exp;
using std::expm1;
using std::floor;
using std::fma;
using std::isinf;
using std::isnan;
using std::log;
using std::log1p;
using std::pow;
using std::sin;
using std::sqrt;
using std::tanh;

template <typename A, typename B,
          typename = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
constexpr std::common_type_t<A, B> min(A a, B b) {
  using R = std::common_type_t<A, B>;
  return static_cast<R>(b) < static_cast<R>(a) ? static_cast<R>(b) : static_cast<R>(a);
}
template <typename A, typename B,
          typename = std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>>>
constexpr std::common_type_t<A, B> max(A a, B b) {
  using R = std::common_type_t<A, B>;
  return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(b) : static_cast<R>(a);
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}

// ---------------------------------------------------------------------------------------------
// The runtime (csrc/emu/cuda_emu.cpp).
namespace fastgan::emu {

// A `__shared__` declaration: its size and alignment; its address identifies it.
struct SharedSite {
  std::size_t bytes;
  std::size_t align;
};

// Static shared memory of the running block for the declaration `site`, and the dynamic one.
void* static_shared(const SharedSite* site);
void* dynamic_shared();

void syncthreads();
int syncthreads_count(int predicate);

// Warp exchange: every lane of the warp stores `bytes` bytes of `value`, then each reads lane
// source_lane(lane)'s. Needs every lane of the warp (mask).
void warp_exchange(unsigned mask, const void* value, void* result, std::size_t bytes,
                   int (*source_lane)(int lane, int arg, int width), int arg, int width,
                   const char* what);
unsigned warp_ballot(unsigned mask, bool predicate);
void syncwarp(unsigned mask);
unsigned active_mask();

void threadfence();

// Launch configuration checks and the run; throws c10::Error on a violation.
struct LaunchSite {
  const char* kernel;  // the kernel expression as written at the launch
  const char* file;
  int line;
};
// `signature`: __PRETTY_FUNCTION__ of make_launch, which names the kernel's instantiation (one
// launch site runs several).
void run(const LaunchSite& site, const char* signature, const void* kernel_id, dim3 grid,
         dim3 block, std::size_t shared_bytes, void (*body)(void*), void* context);

// cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes).
void set_max_dynamic_shared(const void* kernel_id, int bytes);

template <typename... P>
class Launch {
 public:
  using Kernel = void (*)(P...);
  Launch(LaunchSite site, const char* signature, dim3 grid, dim3 block, std::size_t shared_bytes,
         Kernel kernel)
      : site_(site), signature_(signature), grid_(grid), block_(block),
        shared_bytes_(shared_bytes), kernel_(kernel) {}

  // The kernel's arguments are converted to its parameter types once, at the launch; every
  // thread then gets its own copies, as kernel parameters are on the GPU.
  template <typename... A>
  void operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong argument count");
    std::tuple<std::decay_t<P>...> params(std::forward<A>(args)...);
    struct Context {
      Kernel kernel;
      const std::tuple<std::decay_t<P>...>* params;
    } context{kernel_, &params};
    run(site_, signature_, reinterpret_cast<const void*>(kernel_), grid_, block_, shared_bytes_,
        [](void* c) {
          const auto* ctx = static_cast<const Context*>(c);
          std::apply([&](const auto&... p) { ctx->kernel(p...); }, *ctx->params);
        },
        &context);
  }

 private:
  LaunchSite site_;
  const char* signature_;
  dim3 grid_, block_;
  std::size_t shared_bytes_;
  Kernel kernel_;
};

template <typename Kernel>
struct LaunchOf;
template <typename... P>
struct LaunchOf<void (*)(P...)> {
  using type = Launch<P...>;
};

// The kernel is a template argument, so that __PRETTY_FUNCTION__ names its instantiation.
template <auto kKernel>
typename LaunchOf<decltype(kKernel)>::type make_launch(LaunchSite site, dim3 grid, dim3 block,
                                                       std::size_t shared_bytes) {
  return typename LaunchOf<decltype(kKernel)>::type(site, __PRETTY_FUNCTION__, grid, block,
                                                    shared_bytes, kKernel);
}

// Lane maps of the shuffles (within segments of `width` lanes, as CUDA defines them).
inline int lane_idx(int lane, int src, int width) { return (lane / width) * width + (src % width); }
inline int lane_up(int lane, int delta, int width) {
  const int base = (lane / width) * width;
  return lane - delta >= base ? lane - delta : lane;
}
inline int lane_down(int lane, int delta, int width) {
  const int base = (lane / width) * width;
  return lane + delta < base + width ? lane + delta : lane;
}
inline int lane_xor(int lane, int mask, int width) {
  const int target = lane ^ mask;
  return target / width == lane / width ? target : lane;
}

template <typename T>
T shuffle(unsigned mask, T value, int (*map)(int, int, int), int arg, int width,
          const char* what) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                "warp shuffles move values of at most 8 bytes");
  T result;
  warp_exchange(mask, &value, &result, sizeof(T), map, arg, width, what);
  return result;
}

}  // namespace fastgan::emu

#define FASTGAN_EMU_SITE(kernel) \
  ::fastgan::emu::LaunchSite { kernel, __FILE__, __LINE__ }

// FASTGAN_LAUNCH(grid, block, shared_bytes, stream, kernel)(arguments...): kernel<<<...>>>.
// `kernel` names the kernel (a function or a template's specialization), not a variable.
#define FASTGAN_LAUNCH(grid, block, shared_bytes, stream, ...)                             \
  ((void)(stream), ::fastgan::emu::make_launch<__VA_ARGS__>(FASTGAN_EMU_SITE(#__VA_ARGS__), \
                                                            (grid), (block), (shared_bytes)))
// FASTGAN_SHARED(T, name, N): __shared__ T name[N].
#define FASTGAN_SHARED(T, name, N)                                                          \
  static constexpr ::fastgan::emu::SharedSite name##_shared_site{sizeof(T) * (N), alignof(T)}; \
  T(&name)[N] = *static_cast<T(*)[N]>(::fastgan::emu::static_shared(&name##_shared_site))
// FASTGAN_DYNAMIC_SHARED(T, name): extern __shared__ T name[] (the launch's shared_bytes).
#define FASTGAN_DYNAMIC_SHARED(T, name) T* const name = static_cast<T*>(::fastgan::emu::dynamic_shared())

inline void __syncthreads() { ::fastgan::emu::syncthreads(); }
inline int __syncthreads_count(int predicate) { return ::fastgan::emu::syncthreads_count(predicate); }
inline int __syncthreads_or(int predicate) { return __syncthreads_count(predicate) != 0; }
inline int __syncthreads_and(int predicate) {
  return __syncthreads_count(predicate) == static_cast<int>(blockDim.x * blockDim.y * blockDim.z);
}
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::fastgan::emu::syncwarp(mask); }
inline unsigned __activemask() { return ::fastgan::emu::active_mask(); }
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return ::fastgan::emu::warp_ballot(mask, predicate != 0);
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
  return __ballot_sync(mask, predicate) == (mask & ::fastgan::emu::active_mask());
}
template <typename T>
T __shfl_sync(unsigned mask, T v, int src, int width = warpSize) {
  return ::fastgan::emu::shuffle(mask, v, ::fastgan::emu::lane_idx, src, width, "__shfl_sync");
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  return ::fastgan::emu::shuffle(mask, v, ::fastgan::emu::lane_up, static_cast<int>(delta), width,
                                 "__shfl_up_sync");
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  return ::fastgan::emu::shuffle(mask, v, ::fastgan::emu::lane_down, static_cast<int>(delta),
                                 width, "__shfl_down_sync");
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
  return ::fastgan::emu::shuffle(mask, v, ::fastgan::emu::lane_xor, lane_mask, width,
                                 "__shfl_xor_sync");
}
inline void __threadfence() { ::fastgan::emu::threadfence(); }
inline void __threadfence_block() { ::fastgan::emu::threadfence(); }

// Atomics: std::atomic_ref on the object (a compare-and-swap loop for types without fetch_add).
template <typename T>
T atomicAdd(T* address, T value) {
  std::atomic_ref<T> ref(*address);
  if constexpr (std::is_integral_v<T> || std::is_floating_point_v<T>) {
    return ref.fetch_add(value);
  } else {
    T old = ref.load();
    while (!ref.compare_exchange_weak(old, static_cast<T>(static_cast<float>(old) +
                                                          static_cast<float>(value)))) {
    }
    return old;
  }
}
namespace fastgan::emu {
// Stores `value` while replaces(value, current) holds; returns the value it found.
template <typename T, typename Replaces>
T atomic_replace_while(T* address, T value, Replaces replaces) {
  std::atomic_ref<T> ref(*address);
  T old = ref.load();
  while (replaces(value, old) && !ref.compare_exchange_weak(old, value)) {
  }
  return old;
}
}  // namespace fastgan::emu
template <typename T>
T atomicMax(T* address, T value) {
  return ::fastgan::emu::atomic_replace_while(address, value, [](T v, T old) { return old < v; });
}
template <typename T>
T atomicMin(T* address, T value) {
  return ::fastgan::emu::atomic_replace_while(address, value, [](T v, T old) { return v < old; });
}
template <typename T>
T atomicExch(T* address, T value) {
  return std::atomic_ref<T>(*address).exchange(value);
}
template <typename T>
T atomicCAS(T* address, T compare, T value) {
  std::atomic_ref<T>(*address).compare_exchange_strong(compare, value);
  return compare;
}

// ---------------------------------------------------------------------------------------------
// The host API the launchers use, and c10's CUDA helpers, for one emulated device 0.
struct CUstream_st;
using cudaStream_t = CUstream_st*;

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1 };
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlock = 8, cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

namespace fastgan::emu {
// sm_90 (H100): what the launch checks enforce.
constexpr int kMaxThreadsPerBlock = 1024;
constexpr int kMaxBlockZ = 64;
constexpr long long kMaxGridX = 2147483647LL;
constexpr long long kMaxGridYZ = 65535;
constexpr int kDefaultSharedBytes = 48 * 1024;
constexpr int kOptinSharedBytes = 227 * 1024;
}  // namespace fastgan::emu

inline const char* cudaGetErrorString(cudaError_t error) {
  return error == cudaSuccess ? "no error" : "invalid argument";
}
inline cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (device != 0) return cudaErrorInvalidValue;
  switch (attr) {
    case cudaDevAttrMaxSharedMemoryPerBlock:
      *value = fastgan::emu::kDefaultSharedBytes;
      return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
      *value = fastgan::emu::kOptinSharedBytes;
      return cudaSuccess;
  }
  return cudaErrorInvalidValue;
}
template <typename... P>
cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaErrorInvalidValue;
  fastgan::emu::set_max_dynamic_shared(reinterpret_cast<const void*>(kernel), value);
  return cudaSuccess;
}

namespace c10::cuda {
struct CUDAGuard {
  explicit CUDAGuard(c10::Device device) {
    TORCH_CHECK(device.is_cpu(), "CUDA emulation: expected a CPU tensor, got one on ", device);
  }
};
struct CUDAStream {
  operator cudaStream_t() const { return nullptr; }  // NOLINT: implicit, as c10's
};
inline CUDAStream getCurrentCUDAStream() { return CUDAStream{}; }
}  // namespace c10::cuda

#define C10_CUDA_CHECK(expr)                                                          \
  do {                                                                                \
    const cudaError_t fastgan_emu_error = (expr);                                     \
    TORCH_CHECK(fastgan_emu_error == cudaSuccess, "CUDA error: ",                      \
                cudaGetErrorString(fastgan_emu_error), " (", #expr, ")");             \
  } while (false)
// Launch errors are raised by the launch itself (FASTGAN_LAUNCH), with the kernel's name.
#define C10_CUDA_KERNEL_LAUNCH_CHECK() \
  do {                                 \
  } while (false)
