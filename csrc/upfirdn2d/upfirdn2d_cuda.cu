// upfirdn2d CUDA kernels.
//
// tiled_kernel: for NCHW-contiguous inputs. A block owns a TILE_H x TILE_W tile of output of one
// plane at a time (looping over planes): it stages the input region that the tile reads, converted
// to the compute type and zero outside the image, in shared memory, then every thread computes
// outputs from it in polyphase form (only the taps that meet a real input sample). The common
// StyleGAN cases (2x up, 2x down and same-size blur with a 4x4 filter) are compiled with the
// factors and the filter size as constants so that the tap loops unroll; the rest use the same
// kernel with run-time values. A 1-D (separable) filter runs as its outer product, each tap
// formed in the accumulation type (tap_of).
//
// direct_kernel: any strides (channels_last, or tiles too large for shared memory): one thread per
// output element, in the output's memory order (coalesced for channels_last along C), reading the
// input through the caches.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>

#include "../common/cuda.h"
#include "upfirdn2d_args.h"

namespace fastgan::upfirdn2d {
namespace {

constexpr int kThreads = 256;
// Grid limits of the tiled kernel (planes beyond grid.z loop inside a block; more tile rows than
// grid.y allows take the direct kernel) and blocks of the grid-stride direct kernel; small in the
// emulated build, so that test inputs reach the plane loop and the grid-stride loop.
constexpr int64_t kMaxGridZ = FASTGAN_LIMIT(65535, 3);
constexpr int64_t kMaxGridY = FASTGAN_LIMIT(65535, 6);
constexpr int64_t kMaxDirectBlocks = FASTGAN_LIMIT(1 << 16, 3);
// Dynamic shared memory available to a block without opting in.
constexpr int64_t kMaxSharedBytes = 48 * 1024;

// Everything a kernel needs about a call, passed by value.
struct Args {
  int64_t planes, channels;
  int64_t in_h, in_w, out_h, out_w;
  int up_x, up_y, down_x, down_y, pad_x0, pad_y0, fw, fh;
  int region_w, region_h;  // the largest input region of a tile (tiled_kernel)
  bool separable;          // k is the 1-D filter [fw] of a square fw x fw kernel
  int64_t xs[4], os[4];    // strides of x and out
  double gain;
};

// Upper bound of the input extent read by `tile` consecutive outputs along one axis.
__host__ __device__ constexpr int region_extent(int tile, int up, int down, int taps) {
  return ((tile - 1) * down + taps - 1) / up + 2;
}

// Tap (ty, tx) of the 2-D correlation kernel in the accumulation type. For a separable filter the
// product k[ty] * k[tx] is formed in acc_t: rounded to float it would be off by ~1e-8 relative,
// far above float64's precision.
template <typename acc_t>
__device__ __forceinline__ acc_t tap_of(const float* k, int64_t ty, int64_t tx, const Args& a) {
  return a.separable ? static_cast<acc_t>(k[ty]) * static_cast<acc_t>(k[tx])
                     : static_cast<acc_t>(k[ty * a.fw + tx]);
}

// UP, DOWN, TAPS: compile-time factors and square filter size, or 0 for the run-time ones.
template <typename scalar_t, typename acc_t, int UP, int DOWN, int TAPS, int TILE_W, int TILE_H>
__global__ void __launch_bounds__(kThreads)
    tiled_kernel(const scalar_t* __restrict__ x, const float* __restrict__ k,
                 scalar_t* __restrict__ out, const Args a) {
  FASTGAN_DYNAMIC_SHARED(unsigned char, shared_raw);
  acc_t* const region = reinterpret_cast<acc_t*>(shared_raw);
  acc_t* const taps = region + a.region_w * a.region_h;

  const int up_x = UP ? UP : a.up_x, up_y = UP ? UP : a.up_y;
  const int down_x = DOWN ? DOWN : a.down_x, down_y = DOWN ? DOWN : a.down_y;
  const int fw = TAPS ? TAPS : a.fw, fh = TAPS ? TAPS : a.fh;
  // Tap loops run ceil(taps / up) times when the factors are constants (unrolled), else until
  // the filter ends.
  constexpr int kLoopX = (UP && TAPS) ? (TAPS + UP - 1) / UP : 0;

  const int ox0 = blockIdx.x * TILE_W, oy0 = blockIdx.y * TILE_H;
  const int64_t ix0 = floor_div(int64_t(ox0) * down_x - a.pad_x0, up_x);
  const int64_t iy0 = floor_div(int64_t(oy0) * down_y - a.pad_y0, up_y);
  const int last_ox = min(ox0 + TILE_W, int(a.out_w)) - 1;
  const int last_oy = min(oy0 + TILE_H, int(a.out_h)) - 1;
  const int rw = int(floor_div(int64_t(last_ox) * down_x + fw - 1 - a.pad_x0, up_x) - ix0 + 1);
  const int rh = int(floor_div(int64_t(last_oy) * down_y + fh - 1 - a.pad_y0, up_y) - iy0 + 1);

  for (int i = threadIdx.x; i < fw * fh; i += blockDim.x) taps[i] = tap_of<acc_t>(k, i / fw, i % fw, a);

  const acc_t gain = static_cast<acc_t>(a.gain);
  const int64_t plane_in = a.in_h * a.in_w, plane_out = a.out_h * a.out_w;
  for (int64_t p = blockIdx.z; p < a.planes; p += gridDim.z) {
    __syncthreads();  // the previous plane's outputs are done with the region
    const scalar_t* xp = x + p * plane_in;
    for (int i = threadIdx.x; i < rw * rh; i += blockDim.x) {
      const int r = i / rw, c = i - r * rw;
      const int64_t iy = iy0 + r, ix = ix0 + c;
      const bool inside = iy >= 0 && iy < a.in_h && ix >= 0 && ix < a.in_w;
      region[i] = inside ? static_cast<acc_t>(xp[iy * a.in_w + ix]) : acc_t(0);
    }
    __syncthreads();
    scalar_t* op = out + p * plane_out;
    for (int i = threadIdx.x; i < TILE_W * TILE_H; i += blockDim.x) {
      const int oy = oy0 + i / TILE_W, ox = ox0 + i % TILE_W;
      if (oy > last_oy || ox > last_ox) continue;
      const Phase px = phase_of(ox, up_x, down_x, a.pad_x0);
      const Phase py = phase_of(oy, up_y, down_y, a.pad_y0);
      const int cx = int(px.input - ix0), cy = int(py.input - iy0);
      acc_t acc = 0;
      for (int ty = int(py.tap), r = cy; ty < fh; ty += up_y, ++r) {
        const acc_t* row = region + r * rw + cx;
        const acc_t* trow = taps + ty * fw;
        if constexpr (kLoopX > 0) {
#pragma unroll
          for (int m = 0; m < kLoopX; ++m) {
            const int tx = int(px.tap) + m * UP;
            if (tx < TAPS) acc += trow[tx] * row[m];
          }
        } else {
          for (int tx = int(px.tap), c = 0; tx < fw; tx += up_x, ++c) acc += trow[tx] * row[c];
        }
      }
      op[int64_t(oy) * a.out_w + ox] = static_cast<scalar_t>(acc * gain);
    }
  }
}

template <typename scalar_t, typename acc_t>
__global__ void __launch_bounds__(kThreads)
    direct_kernel(const scalar_t* __restrict__ x, const float* __restrict__ k,
                  scalar_t* __restrict__ out, const Args a, bool channels_last) {
  const int64_t total = a.planes * a.out_h * a.out_w;
  const acc_t gain = static_cast<acc_t>(a.gain);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t n, c, oy, ox, t;
    if (channels_last) {
      c = i % a.channels, t = i / a.channels;
      ox = t % a.out_w, t /= a.out_w;
      oy = t % a.out_h, n = t / a.out_h;
    } else {
      ox = i % a.out_w, t = i / a.out_w;
      oy = t % a.out_h, t /= a.out_h;
      c = t % a.channels, n = t / a.channels;
    }
    const scalar_t* xp = x + n * a.xs[0] + c * a.xs[1];
    const Phase px = phase_of(ox, a.up_x, a.down_x, a.pad_x0);
    const Phase py = phase_of(oy, a.up_y, a.down_y, a.pad_y0);
    acc_t acc = 0;
    for (int64_t ty = py.tap, iy = py.input; ty < a.fh; ty += a.up_y, ++iy) {
      if (iy < 0 || iy >= a.in_h) continue;
      for (int64_t tx = px.tap, ix = px.input; tx < a.fw; tx += a.up_x, ++ix) {
        if (ix < 0 || ix >= a.in_w) continue;
        acc += tap_of<acc_t>(k, ty, tx, a) * static_cast<acc_t>(xp[iy * a.xs[2] + ix * a.xs[3]]);
      }
    }
    out[n * a.os[0] + c * a.os[1] + oy * a.os[2] + ox * a.os[3]] =
        static_cast<scalar_t>(acc * gain);
  }
}

Args make_args(const Call& call) {
  Args a{};
  a.channels = call.x.size(1);
  a.planes = call.x.size(0) * a.channels;
  a.in_h = call.ay.in, a.in_w = call.ax.in, a.out_h = call.ay.out, a.out_w = call.ax.out;
  a.up_x = int(call.ax.up), a.up_y = int(call.ay.up);
  a.down_x = int(call.ax.down), a.down_y = int(call.ay.down);
  a.pad_x0 = int(call.ax.pad0), a.pad_y0 = int(call.ay.pad0);
  a.fw = int(call.ax.taps), a.fh = int(call.ay.taps);
  for (int d = 0; d < 4; ++d) a.xs[d] = call.x.stride(d), a.os[d] = call.out.stride(d);
  a.gain = call.gain;
  a.separable = call.separable;
  return a;
}

template <typename scalar_t, typename acc_t, int UP, int DOWN, int TAPS, int TILE_W, int TILE_H>
void launch_tiled(const Call& call, const at::Tensor& k, Args a, int64_t shared_bytes,
                  cudaStream_t stream) {
  const dim3 grid((a.out_w + TILE_W - 1) / TILE_W, (a.out_h + TILE_H - 1) / TILE_H,
                  std::min(a.planes, kMaxGridZ));
  FASTGAN_LAUNCH(grid, kThreads, shared_bytes, stream,
                 tiled_kernel<scalar_t, acc_t, UP, DOWN, TAPS, TILE_W, TILE_H>)(
      call.x.const_data_ptr<scalar_t>(), k.const_data_ptr<float>(),
      call.out.mutable_data_ptr<scalar_t>(), a);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Shared memory of a tile: its largest input region plus the filter, in the compute type.
template <typename acc_t>
int64_t tile_bytes(const Args& a, int tile_w, int tile_h) {
  const int64_t rw = region_extent(tile_w, a.up_x, a.down_x, a.fw);
  const int64_t rh = region_extent(tile_h, a.up_y, a.down_y, a.fh);
  return (rw * rh + int64_t(a.fw) * a.fh) * int64_t(sizeof(acc_t));
}

// Runs a tiled kernel (UP, DOWN, TAPS: 0 for run-time values) if its tile fits; false otherwise.
template <typename scalar_t, typename acc_t, int UP, int DOWN, int TAPS, int TILE_W, int TILE_H>
bool try_tiled(const Call& call, const at::Tensor& k, Args a, cudaStream_t stream) {
  const int64_t tiles_y = (a.out_h + TILE_H - 1) / TILE_H;
  const int64_t bytes = tile_bytes<acc_t>(a, TILE_W, TILE_H);
  if (bytes > kMaxSharedBytes || tiles_y > kMaxGridY || a.out_w > INT32_MAX / 2 ||
      a.out_h > INT32_MAX / 2) {
    return false;
  }
  a.region_w = region_extent(TILE_W, a.up_x, a.down_x, a.fw);
  a.region_h = region_extent(TILE_H, a.up_y, a.down_y, a.fh);
  launch_tiled<scalar_t, acc_t, UP, DOWN, TAPS, TILE_W, TILE_H>(call, k, a, bytes, stream);
  return true;
}

template <typename scalar_t>
void run(const Call& call, const at::Tensor& k, cudaStream_t stream) {
  using acc_t = at::opmath_type<scalar_t>;
  const Args a = make_args(call);
  if (call.x.is_contiguous()) {
    const bool square = a.up_x == a.up_y && a.down_x == a.down_y && a.fw == 4 && a.fh == 4;
    if (square && a.up_x == 2 && a.down_x == 1 &&
        try_tiled<scalar_t, acc_t, 2, 1, 4, 64, 32>(call, k, a, stream)) {
      return;
    }
    if (square && a.up_x == 1 && a.down_x == 2 &&
        try_tiled<scalar_t, acc_t, 1, 2, 4, 32, 32>(call, k, a, stream)) {
      return;
    }
    if (square && a.up_x == 1 && a.down_x == 1 &&
        try_tiled<scalar_t, acc_t, 1, 1, 4, 64, 32>(call, k, a, stream)) {
      return;
    }
    if (try_tiled<scalar_t, acc_t, 0, 0, 0, 32, 32>(call, k, a, stream)) return;
    if (try_tiled<scalar_t, acc_t, 0, 0, 0, 16, 16>(call, k, a, stream)) return;
  }
  const int64_t total = a.planes * a.out_h * a.out_w;
  const int64_t blocks = std::min((total + kThreads - 1) / kThreads, kMaxDirectBlocks);
  const bool channels_last = output_format(call.x) == at::MemoryFormat::ChannelsLast;
  FASTGAN_LAUNCH(blocks, kThreads, 0, stream, direct_kernel<scalar_t, acc_t>)(
      call.x.const_data_ptr<scalar_t>(), k.const_data_ptr<float>(),
      call.out.mutable_data_ptr<scalar_t>(), a, channels_last);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void launch(const Call& call) {
  const c10::cuda::CUDAGuard guard(call.x.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, call.x.scalar_type(), "upfirdn2d",
                                  [&] { run<scalar_t>(call, call.k, stream); });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, FASTGAN_CUDA_KEY, m) {
  m.impl("upfirdn2d", &entry<FASTGAN_CUDA_DEVICE, launch>);
}

}  // namespace fastgan::upfirdn2d
