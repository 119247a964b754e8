// The filtered_lrelu CPU kernel for AVX2 + FMA, chosen at run time by filtered_lrelu_cpu.cpp (see
// common/avx2_target.h).
#include "../common/avx2_target.h"
#if defined(FASTGAN_AVX2_TARGET)
#include "filtered_lrelu_cpu_kernel.h"
#endif
