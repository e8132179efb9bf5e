// Deadlines of the runtime's poll loops: every wait has one, and poll(2)
// takes what is left of it in milliseconds.
#pragma once

#include <algorithm>
#include <chrono>

namespace awf::runtime {

using Clock = std::chrono::steady_clock;

// What is left until `deadline`, for poll(2): 0 once it has passed.
inline int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

}  // namespace awf::runtime
