// Size limits that choose a kernel's path (grid-stride loops, plane loops, 64-bit indexing, chunked
// reductions): FASTGAN_LIMIT(real, small) is `real`, or `small` in a build with
// FASTGAN_SMALL_LIMITS (the emulated CUDA build the tests run), so that test inputs of a few
// thousand elements reach the paths that real inputs take only at millions. Hardware limits
// (threads per block, grid dimensions, shared memory) are not FASTGAN_LIMITs: the emulation
// checks every launch against the real ones.
#pragma once

#ifdef FASTGAN_SMALL_LIMITS
#define FASTGAN_LIMIT(real, small) (small)
#else
#define FASTGAN_LIMIT(real, small) (real)
#endif
