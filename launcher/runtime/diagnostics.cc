// awf's stderr diagnostics ([INFO] ...), filtered by --log-level, and the
// exit line that is always awf's last.
#include "diagnostics.h"

#include <sys/wait.h>

#include <cstdio>

#include "awf/runtime/cleanup.h"
#include "awf/runtime/runtime.h"

namespace awf::runtime {
namespace {

int level_rank(const std::string& level) {
  if (level == "debug" || level == "trace") return 0;
  if (level == "warn" || level == "warning") return 2;
  if (level == "error") return 3;
  return 1;
}

}  // namespace

Diagnostics::Diagnostics(const std::string& level) : rank_(level_rank(level)) {}

void Diagnostics::write(int rank, const char* prefix, const std::string& m) const {
  if (rank < rank_) return;
  std::fprintf(stderr, "%s%s\n", prefix, m.c_str());
  std::fflush(stderr);
}

std::string describe_duration(std::chrono::milliseconds d) {
  if (d.count() % 60'000 == 0) {
    const long long minutes = d.count() / 60'000;
    return std::to_string(minutes) + (minutes == 1 ? " minute" : " minutes");
  }
  return std::to_string(d.count()) + " ms";
}

std::string describe_wait_status(int status) {
  return WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                             : "code " + std::to_string(exit_code_from_wait_status(status));
}

std::string elapsed_ms(std::chrono::steady_clock::time_point started) {
  return std::to_string(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
}

void print_exit_line(int code) {
  std::fprintf(stderr, "Process exiting with code: %d\n", code);
  std::fflush(stderr);
}

}  // namespace awf::runtime
