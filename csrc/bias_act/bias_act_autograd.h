// The activation arguments of bias_act and styled_bias_act (act, alpha, gain, clamp) as the C++
// autograd of both ops keeps them in an autograd context.
#pragma once

#include <string>

#include "../common/autograd.h"

namespace fastgan::bias_act {

struct ActArgs {
  std::string act;
  double alpha, gain, clamp;

  void save(AutogradContext* ctx) const {
    ctx->saved_data["act"] = act;
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["gain"] = gain;
    ctx->saved_data["clamp"] = clamp;
  }
  static ActArgs load(AutogradContext* ctx) {
    return ActArgs{ctx->saved_data["act"].toStringRef(), ctx->saved_data["alpha"].toDouble(),
                   ctx->saved_data["gain"].toDouble(), ctx->saved_data["clamp"].toDouble()};
  }
};

}  // namespace fastgan::bias_act
