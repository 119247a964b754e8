// The upfirdn2d CPU kernel for AVX2 + FMA, chosen at run time by upfirdn2d_cpu.cpp (see
// common/avx2_target.h).
#include "../common/avx2_target.h"
#if defined(FASTGAN_AVX2_TARGET)
#include "upfirdn2d_cpu_kernel.h"
#endif
