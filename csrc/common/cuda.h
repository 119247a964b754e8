// What every *_cuda.cu includes for CUDA: the CUDA runtime and c10's CUDA helpers under nvcc, or
// the project's SIMT emulation (csrc/emu/cuda_emu.h) when the same source is compiled for the CPU
// with FASTGAN_CUDA_EMU. Kernels launch and declare shared memory through the macros below, and
// register with FASTGAN_CUDA_KEY / check FASTGAN_CUDA_DEVICE, so both builds take the source
// unchanged:
//
//   FASTGAN_LAUNCH(grid, block, shared_bytes, stream, kernel<...>)(arguments...);  (names the
//                                                 kernel itself, not a variable holding it)
//   FASTGAN_SHARED(T, name, N);          // __shared__ T name[N]
//   FASTGAN_DYNAMIC_SHARED(T, name);     // extern __shared__ T name[] (the launch's bytes)
//   TORCH_LIBRARY_IMPL(fastgan, FASTGAN_CUDA_KEY, m) { ... }
#pragma once

#include "limits.h"

#ifdef FASTGAN_CUDA_EMU

#include "../emu/cuda_emu.h"
// The emulated kernels run on CPU tensors, registered in place of the CPU kernels.
#define FASTGAN_CUDA_KEY CPU
#define FASTGAN_CUDA_DEVICE c10::DeviceType::CPU

#else

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#define FASTGAN_CUDA_KEY CUDA
#define FASTGAN_CUDA_DEVICE c10::DeviceType::CUDA
#define FASTGAN_LAUNCH(grid, block, shared_bytes, stream, ...) \
  __VA_ARGS__<<<grid, block, shared_bytes, stream>>>
#define FASTGAN_SHARED(T, name, N) __shared__ T name[N]
#define FASTGAN_DYNAMIC_SHARED(T, name) extern __shared__ __align__(16) T name[]

#endif
