// The minibatch_stddev CPU kernels for AVX2 + FMA, chosen at run time by minibatch_stddev_cpu.cpp
// (see common/avx2_target.h).
#include "../common/avx2_target.h"
#if defined(FASTGAN_AVX2_TARGET)
#include "minibatch_stddev_cpu_kernel.h"
#endif
