// Included first by every *_cpu_avx2.cpp: compiles the rest of that file for AVX2 + FMA
// (x86-64-v3) and sets CPU_CAPABILITY to AVX2; the op's *_cpu.cpp chooses that kernel at run
// time (use_avx2 in cpu_isa.h). A target pragma, not a compiler flag, enables the instructions,
// so that only these files use them and the library still loads on any x86-64 CPU. GCC's pragma
// does not define the ISA macros that the headers test (sleef.h declares its AVX2 functions
// under __AVX2__, c10 tests __F16C__), so they are defined here to match the pragma. Inline
// functions that these files share with the baseline files (a few cold error paths of c10, std
// containers) exist in both builds; setup.py links every baseline object first, so the linker
// keeps the baseline copies. FASTGAN_AVX2_TARGET tells the file whether any of this applies.
#pragma once

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
#define FASTGAN_AVX2_TARGET 1
#endif
