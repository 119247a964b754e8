// How finely the CPU kernels split their work over at::parallel_for.
#pragma once

#include <algorithm>
#include <cstdint>

namespace fastgan {

// Work per chunk below which a thread of its own does not pay: starting a parallel region costs
// microseconds, so a small call runs on the calling thread.
constexpr int64_t kMinParallelWork = int64_t{1} << 15;

// The grain (work items per chunk) for items of `work_per_item` units each (elements, or
// multiply-adds), so that a chunk holds at least `min_work` units.
inline int64_t grain_for(int64_t work_per_item, int64_t min_work = kMinParallelWork) {
  return std::max<int64_t>(1, min_work / std::max<int64_t>(1, work_per_item));
}

}  // namespace fastgan
