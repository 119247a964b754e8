// The styled_bias_act CPU kernel for AVX2 + FMA, chosen at run time by styled_bias_act_cpu.cpp (see
// common/avx2_target.h).
#include "../common/avx2_target.h"
#if defined(FASTGAN_AVX2_TARGET)
#include "styled_bias_act_cpu_kernel.h"
#include "styled_bias_act_cpu_grads_kernel.h"
#endif
