// squared_norm CPU kernel: one task per (sample, chunk), a vectorisable sum of squares.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "squared_norm.h"

namespace fastgan::squared_norm {
namespace {

void partials_cpu(const at::Tensor& x, const at::Tensor& partials, int64_t per_sample,
                  int64_t chunks) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "squared_norm", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    acc_t* out = partials.mutable_data_ptr<acc_t>();
    const int64_t stride = x.stride(0);
    // Threads only for more than kInline elements: below that the parallel region costs more
    // than the sum (r1 on 32 x 3 x 16 x 16 gradients).
    constexpr int64_t kInline = 1 << 16;
    const int64_t grain = std::max<int64_t>(1, kInline / std::min(kChunk, per_sample));
    if (chunks == 1 && per_sample < 64) {
      // Many short samples (the [O * I, kh * kw] energy of a convolution weight): one row after
      // another, without the division per task of the general loop below.
      at::parallel_for(0, x.size(0), grain, [&](int64_t begin, int64_t end) {
        const scalar_t* src = xp + begin * stride;
        for (int64_t n = begin; n < end; ++n, src += stride) {
          acc_t total = 0;
          for (int64_t i = 0; i < per_sample; ++i) {
            total += static_cast<acc_t>(src[i]) * static_cast<acc_t>(src[i]);
          }
          out[n] = total;
        }
      });
      return;
    }
    at::parallel_for(0, x.size(0) * chunks, grain, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t n = task / chunks, first = (task % chunks) * kChunk;
        const int64_t count = std::min(kChunk, per_sample - first);
        const scalar_t* src = xp + n * stride + first;
        // Eight accumulators: the additions need not wait for one another and vectorise.
        acc_t sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t i = 0;
        for (; i + 8 <= count; i += 8) {
          for (int k = 0; k < 8; ++k) {
            const acc_t v = static_cast<acc_t>(src[i + k]);
            sums[k] += v * v;
          }
        }
        acc_t total = 0;
        for (; i < count; ++i) total += static_cast<acc_t>(src[i]) * static_cast<acc_t>(src[i]);
        for (int k = 0; k < 8; ++k) total += sums[k];
        out[task] = total;
      }
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastgan, CPU, m) {
  m.impl("squared_norm", &entry<partials_cpu, c10::DeviceType::CPU>);
}

}  // namespace fastgan::squared_norm
