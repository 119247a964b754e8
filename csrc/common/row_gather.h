// Weighted sums of contiguous rows, the inner loop of the FIR CPU kernels (upfirdn2d,
// filtered_lrelu). Compiled once per instruction set like the kernels that include it: it lives
// in namespace CPU_CAPABILITY (defined by the including file) and an anonymous namespace, so the
// baseline and AVX2 builds never share an instantiation.
#pragma once

#include <algorithm>
#include <cstdint>

namespace fastgan::CPU_CAPABILITY {
namespace {

// dst[i] = (first ? 0 : dst[i]) + sum_j w[j] * src[j][i] for i < n, with m <= 4 sources.
template <typename acc_t>
void accumulate(acc_t* __restrict dst, const acc_t* const* src, const acc_t* w, int m, int64_t n,
                bool first) {
  const acc_t* __restrict s0 = src[0];
  const acc_t w0 = w[0];
  if (first) {
    for (int64_t i = 0; i < n; ++i) dst[i] = w0 * s0[i];
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] += w0 * s0[i];
  }
  if (m == 1) return;
  const acc_t* __restrict s1 = src[1];
  const acc_t w1 = w[1];
  if (m == 2) {
    for (int64_t i = 0; i < n; ++i) dst[i] += w1 * s1[i];
    return;
  }
  const acc_t* __restrict s2 = src[2];
  const acc_t w2 = w[2];
  if (m == 3) {
    for (int64_t i = 0; i < n; ++i) dst[i] += w1 * s1[i] + w2 * s2[i];
    return;
  }
  const acc_t* __restrict s3 = src[3];
  const acc_t w3 = w[3];
  for (int64_t i = 0; i < n; ++i) dst[i] += w1 * s1[i] + w2 * s2[i] + w3 * s3[i];
}

// Weighted sources for one destination, flushed into it four at a time; a destination that gets
// no source is zeroed by finish().
template <typename acc_t>
struct Gather {
  acc_t* dst = nullptr;
  int64_t n = 0;
  const acc_t* src[4];
  acc_t w[4];
  int m = 0;
  bool first = true;

  void begin(acc_t* d, int64_t length) {
    dst = d, n = length, m = 0, first = true;
  }
  void add(const acc_t* s, acc_t weight) {
    src[m] = s;
    w[m] = weight;
    if (++m == 4) flush();
  }
  void flush() {
    if (m > 0) accumulate(dst, src, w, m, n, first);
    if (m > 0) first = false;
    m = 0;
  }
  void finish() {
    flush();
    if (first) std::fill(dst, dst + n, acc_t(0));
  }
};

}  // namespace
}  // namespace fastgan::CPU_CAPABILITY
