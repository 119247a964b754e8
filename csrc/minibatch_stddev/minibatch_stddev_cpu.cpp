// minibatch_stddev CPU kernels: one task per (group, channel group), each one pass over its
// samples (statistics in the compute type, the sum of standard deviations in double).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

#include "minibatch_stddev_args.h"

namespace fastgan::minibatch_stddev {
namespace {

// Calls body(ch, pixel, mean, std) for every element of group m, channel group f, with the
// statistics over the group's G samples of x (NCHW-contiguous, geo.C channels).
template <typename scalar_t, typename F>
void for_each_stat(const scalar_t* x, const Geometry& geo, int64_t m, int64_t f, F&& body) {
  using acc_t = at::opmath_type<scalar_t>;
  for (int64_t ch = 0; ch < geo.c; ++ch) {
    for (int64_t p = 0; p < geo.HW; ++p) {
      acc_t sum = 0;
      for (int64_t g = 0; g < geo.G; ++g) sum += static_cast<acc_t>(x[geo.offset(g, m, f, ch, p, geo.C)]);
      const acc_t mean = sum / static_cast<acc_t>(geo.G);
      acc_t sq = 0;
      for (int64_t g = 0; g < geo.G; ++g) {
        const acc_t d = static_cast<acc_t>(x[geo.offset(g, m, f, ch, p, geo.C)]) - mean;
        sq += d * d;
      }
      const acc_t std = std::sqrt(sq / static_cast<acc_t>(geo.G) + static_cast<acc_t>(kEpsilon));
      body(ch, p, mean, std);
    }
  }
}

at::Tensor stats(const at::Tensor& x, const Geometry& geo) {
  const at::ScalarType acc = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor s = at::empty({geo.M, geo.F}, x.options().dtype(acc));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "minibatch_stddev", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    acc_t* sp = s.mutable_data_ptr<acc_t>();
    at::parallel_for(0, geo.M * geo.F, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        double total = 0;
        for_each_stat(xp, geo, i / geo.F, i % geo.F,
                      [&](int64_t, int64_t, acc_t, acc_t std) { total += std; });
        sp[i] = static_cast<acc_t>(total / static_cast<double>(geo.c * geo.HW));
      }
    });
  });
  return s;
}

at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, const Geometry& geo) {
  at::Tensor grad_x = at::empty(x.sizes(), x.options());
  const int64_t out_channels = geo.C + geo.F;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "minibatch_stddev_backward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const scalar_t* gp = grad.const_data_ptr<scalar_t>();
    scalar_t* op = grad_x.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, geo.M * geo.F, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t m = i / geo.F, f = i % geo.F;
        double gs = 0;  // the gradient of s[m, f]: its channel, over the group and the pixels
        for (int64_t g = 0; g < geo.G; ++g) {
          const scalar_t* row = gp + ((g * geo.M + m) * out_channels + geo.C + f) * geo.HW;
          for (int64_t p = 0; p < geo.HW; ++p) gs += static_cast<double>(row[p]);
        }
        const acc_t k = static_cast<acc_t>(gs / static_cast<double>(geo.c * geo.HW * geo.G));
        for_each_stat(xp, geo, m, f, [&](int64_t ch, int64_t p, acc_t mean, acc_t std) {
          for (int64_t g = 0; g < geo.G; ++g) {
            const int64_t at = geo.offset(g, m, f, ch, p, geo.C);
            const acc_t gy = static_cast<acc_t>(gp[geo.offset(g, m, f, ch, p, out_channels)]);
            op[at] = static_cast<scalar_t>(gy + k * (static_cast<acc_t>(xp[at]) - mean) / std);
          }
        });
      }
    });
  });
  return grad_x;
}

using CPUEntry = Entry<stats, backward, c10::DeviceType::CPU>;

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("minibatch_stddev", &CPUEntry::forward);
  m.impl("minibatch_stddev_backward", &CPUEntry::backward);
}

}  // namespace fastgan::minibatch_stddev
