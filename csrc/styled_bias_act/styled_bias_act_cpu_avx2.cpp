// The styled_bias_act CPU kernel for AVX2 + FMA (x86-64-v3), chosen at run time by styled_bias_act_cpu.cpp.
// A target pragma, not a compiler flag, enables the instructions, so that only this file uses
// them and the library still loads on any x86-64 CPU. GCC's pragma does not define the ISA
// macros that the headers test (sleef.h and c10 test __AVX2__ and __F16C__), so they are
// defined here to match the pragma. Inline functions that this file shares with the baseline
// files (a few cold error paths of c10) exist in both builds; setup.py links the baseline object
// first, so the linker keeps the baseline copies.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx,avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt")
#define __AVX__ 1
#define __AVX2__ 1
#define __FMA__ 1
#define __F16C__ 1
#define __BMI__ 1
#define __BMI2__ 1
#define __LZCNT__ 1
#define __POPCNT__ 1
#define CPU_CAPABILITY AVX2
#define CPU_CAPABILITY_AVX2
#include "styled_bias_act_cpu_kernel.h"
#endif
