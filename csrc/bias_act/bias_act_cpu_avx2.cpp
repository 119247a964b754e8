// The bias_act CPU kernel for AVX2 + FMA, chosen at run time by bias_act_cpu.cpp (see
// common/avx2_target.h).
#include "../common/avx2_target.h"
#if defined(FASTGAN_AVX2_TARGET)
#include "bias_act_cpu_kernel.h"
#endif
