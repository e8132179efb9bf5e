// Writes the entrypoint's prefixed diagnostics to stderr.
#include "awf/entrypoint/log.h"

#include <string.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace awf::entrypoint {
namespace {

bool g_quiet = false;

// One write(2) per line so lines from the entrypoint and the command do not
// interleave mid-line on a shared stderr.
void emit(std::string_view prefix, std::string_view message) {
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string_view::npos) end = message.size();
    std::string line(prefix);
    line.append(message.substr(start, end - start));
    line.push_back('\n');
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      ssize_t n = write(STDERR_FILENO, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      p += n;
      left -= static_cast<size_t>(n);
    }
    start = end + 1;
  }
}

}  // namespace

void set_quiet(bool quiet) { g_quiet = quiet; }
void log_info(std::string_view message) {
  if (!g_quiet) emit("[entrypoint] ", message);
}
void log_warn(std::string_view message) { emit("[entrypoint][WARN] ", message); }
void log_error(std::string_view message) { emit("[entrypoint][ERROR] ", message); }


}  // namespace awf::entrypoint
