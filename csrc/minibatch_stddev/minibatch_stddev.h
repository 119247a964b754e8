// minibatch_stddev maths shared by the CPU and CUDA kernels.
//
// x [N, C, H, W] with G = min(group_size, N) samples per group and M = N / G groups: group m holds
// the samples n = g * M + m (g < G); the channels split into F = num_channels groups of c = C / F.
// For group m, channel group f and every (channel, pixel) of it, the population standard
// deviation over the group's G samples, sqrt(var + 1e-8), averaged over the c * H * W of them:
// s[m, f]. The output appends s[m, f] as F constant channels to every sample of group m.
//
// Backward, from the gradient gy of the output: gs[m, f] = sum over the group's samples and
// pixels of gy in channel C + f; then for each x element of (m, f):
//   grad_x = gy[:, :C] + gs[m, f] / (c * H * W * G) * (x - mean) / std
// (the mean's own derivative sums to zero over the group).
#pragma once

#include <cstdint>

#include "../common/math.h"

namespace fastgan::minibatch_stddev {

constexpr double kEpsilon = 1e-8;

struct Geometry {
  int64_t G, M, F, c, HW;  // samples per group, groups, channel groups, channels per group, H*W
  int64_t C;               // channels of x

  // Offset of x[g * M + m, f * c + ch, pixel] in an NCHW-contiguous tensor of C channels.
  FASTGAN_HD int64_t offset(int64_t g, int64_t m, int64_t f, int64_t ch, int64_t pixel,
                            int64_t channels) const {
    return ((g * M + m) * channels + f * c + ch) * HW + pixel;
  }
};

}  // namespace fastgan::minibatch_stddev
