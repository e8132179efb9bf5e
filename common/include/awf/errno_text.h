// errno as words for error messages: "Address already in use (EADDRINUSE,
// errno 98)". One spelling for every program, so logs and tests read alike.
#pragma once

#include <cstring>
#include <string>

namespace awf {

inline std::string errno_text(int err) {
  const char* name = ::strerrorname_np(err);
  return std::string(std::strerror(err)) + " (" + (name ? std::string(name) + ", " : std::string()) + "errno " +
         std::to_string(err) + ")";
}

}  // namespace awf
