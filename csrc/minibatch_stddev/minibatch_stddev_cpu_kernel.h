// minibatch_stddev CPU kernels, compiled once per instruction set (namespace CPU_CAPABILITY,
// defined by the including file: minibatch_stddev_cpu.cpp for the baseline, *_avx2.cpp for AVX2 +
// FMA): one task per (group, channel group), each one pass over its samples' slabs (statistics in
// the compute type, the sum of standard deviations in double).
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cmath>

#include "../common/parallel.h"
#include "minibatch_stddev_args.h"

namespace fastgan::minibatch_stddev {

namespace DEFAULT {
void forward(const at::Tensor& x, const at::Tensor& out, const Geometry& geo);
at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, const Geometry& geo);
}  // namespace DEFAULT
namespace AVX2 {
void forward(const at::Tensor& x, const at::Tensor& out, const Geometry& geo);
at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, const Geometry& geo);
}  // namespace AVX2

namespace CPU_CAPABILITY {
namespace {
// Elements of a (group, channel group) slab handled at a time: the statistics of a block stay in
// L1 and every loop below runs over contiguous memory, which the compiler vectorises.
constexpr int64_t kBlock = 256;

// For group m, channel group f: each sample's c * H * W elements are one contiguous slab. Calls
// body(e0, n, mean, std) for the blocks [e0, e0 + n) of the slab, with the statistics over the
// group's G samples of each element.
template <typename scalar_t, typename acc_t, typename F>
void for_each_block(const scalar_t* x, const Geometry& geo, int64_t m, int64_t f, F&& body) {
  const int64_t slab = geo.c * geo.HW;
  acc_t mean[kBlock], std[kBlock];
  for (int64_t e0 = 0; e0 < slab; e0 += kBlock) {
    const int64_t n = std::min(kBlock, slab - e0);
    std::fill_n(mean, n, acc_t(0));
    std::fill_n(std, n, acc_t(0));
    for (int64_t g = 0; g < geo.G; ++g) {
      const scalar_t* xs = x + geo.offset(g, m, f, 0, 0, geo.C) + e0;
      for (int64_t k = 0; k < n; ++k) mean[k] += static_cast<acc_t>(xs[k]);
    }
    const acc_t inv_g = acc_t(1) / static_cast<acc_t>(geo.G);
    for (int64_t k = 0; k < n; ++k) mean[k] *= inv_g;
    for (int64_t g = 0; g < geo.G; ++g) {
      const scalar_t* xs = x + geo.offset(g, m, f, 0, 0, geo.C) + e0;
      for (int64_t k = 0; k < n; ++k) {
        const acc_t d = static_cast<acc_t>(xs[k]) - mean[k];
        std[k] += d * d;
      }
    }
    for (int64_t k = 0; k < n; ++k) std[k] = std::sqrt(std[k] * inv_g + acc_t(kEpsilon));
    body(e0, n, mean, std);
  }
}

// (group, channel group) items per chunk: each item reads G * c * HW elements.
int64_t grain(const Geometry& geo) { return grain_for(geo.G * geo.c * geo.HW); }

}  // namespace

void forward(const at::Tensor& x, const at::Tensor& out, const Geometry& geo) {
  const int64_t out_channels = geo.C + geo.F;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "minibatch_stddev", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        const scalar_t* xp = x.const_data_ptr<scalar_t>();
        scalar_t* op = out.mutable_data_ptr<scalar_t>();
        at::parallel_for(0, geo.M * geo.F, grain(geo), [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            const int64_t m = i / geo.F, f = i % geo.F;
            double total = 0;
            for_each_block<scalar_t, acc_t>(
                xp, geo, m, f, [&](int64_t e0, int64_t n, const acc_t*, const acc_t* std) {
                  // Eight partial sums: a single running sum is a serial chain of additions
                  // that does not vectorise (a fifth of the forward's time).
                  acc_t parts[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                  int64_t k = 0;
                  for (; k + 8 <= n; k += 8) {
                    for (int j = 0; j < 8; ++j) parts[j] += std[k + j];
                  }
                  acc_t block = 0;
                  for (; k < n; ++k) block += std[k];
                  for (int j = 0; j < 8; ++j) block += parts[j];
                  total += static_cast<double>(block);
                  for (int64_t g = 0; g < geo.G; ++g) {  // the copy of x, while it is in cache
                    std::copy_n(xp + geo.offset(g, m, f, 0, 0, geo.C) + e0, n,
                                op + geo.offset(g, m, f, 0, 0, out_channels) + e0);
                  }
                });
            const scalar_t s = static_cast<scalar_t>(total / static_cast<double>(geo.c * geo.HW));
            for (int64_t g = 0; g < geo.G; ++g) {
              std::fill_n(op + ((g * geo.M + m) * out_channels + geo.C + f) * geo.HW, geo.HW, s);
            }
          }
        });
      });
}

at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, const Geometry& geo) {
  at::Tensor grad_x = at::empty(x.sizes(), x.options());
  const int64_t out_channels = geo.C + geo.F;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "minibatch_stddev_backward", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        const scalar_t* xp = x.const_data_ptr<scalar_t>();
        const scalar_t* gp = grad.const_data_ptr<scalar_t>();
        scalar_t* op = grad_x.mutable_data_ptr<scalar_t>();
        at::parallel_for(0, geo.M * geo.F, grain(geo), [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            const int64_t m = i / geo.F, f = i % geo.F;
            double gs = 0;  // the gradient of s[m, f]: its channel, over the group and pixels
            for (int64_t g = 0; g < geo.G; ++g) {
              const scalar_t* row = gp + ((g * geo.M + m) * out_channels + geo.C + f) * geo.HW;
              for (int64_t p = 0; p < geo.HW; ++p) gs += static_cast<double>(row[p]);
            }
            const acc_t k = static_cast<acc_t>(gs / static_cast<double>(geo.c * geo.HW * geo.G));
            for_each_block<scalar_t, acc_t>(
                xp, geo, m, f, [&](int64_t e0, int64_t n, const acc_t* mean, const acc_t* std) {
                  for (int64_t g = 0; g < geo.G; ++g) {
                    const int64_t at = geo.offset(g, m, f, 0, 0, geo.C) + e0;
                    const scalar_t* xs = xp + at;
                    const scalar_t* gy = gp + geo.offset(g, m, f, 0, 0, out_channels) + e0;
                    scalar_t* out = op + at;
                    for (int64_t q = 0; q < n; ++q) {
                      out[q] = static_cast<scalar_t>(static_cast<acc_t>(gy[q]) +
                                                     k * (static_cast<acc_t>(xs[q]) - mean[q]) /
                                                         std[q]);
                    }
                  }
                });
          }
        });
      });
  return grad_x;
}

}  // namespace CPU_CAPABILITY
}  // namespace fastgan::minibatch_stddev
