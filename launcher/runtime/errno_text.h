// The runtime's one rendering of an errno value in messages: its text and its
// number, "Permission denied (errno 13)", so a report names both.
#pragma once

#include <cstring>
#include <string>

namespace awf::runtime {

inline std::string errno_text(int err) {
  return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

}  // namespace awf::runtime
