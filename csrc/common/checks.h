// Argument checks shared by every op's entry points.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>
#include <c10/util/Exception.h>

namespace fastgan {

// x is float16, bfloat16, float32 or float64 (16-bit types are computed in float32).
inline void check_float_dtype(const char* op, const at::Tensor& x) {
  const at::ScalarType dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kHalf || dtype == at::kBFloat16 || dtype == at::kFloat ||
                  dtype == at::kDouble,
              op,
              ": expected x of a floating-point dtype (float16, bfloat16, float32, float64), got ",
              dtype);
}

// x lives on the device type whose kernel is running.
inline void check_device_type(const char* op, const at::Tensor& x, c10::DeviceType device) {
  TORCH_CHECK(x.device().type() == device, op, ": expected x on a ", c10::DeviceTypeName(device),
              " device, got ", x.device());
}

}  // namespace fastgan
