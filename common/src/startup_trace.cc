// The start-up trace (awf/startup_trace.h).
#include "awf/startup_trace.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace awf::startup_trace {
namespace {

std::int64_t now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

struct State {
  bool on = false;
  std::int64_t origin = 0;
};

State load() {
  State s;
  const char* value = std::getenv(kVariable);
  if (value == nullptr || *value == '\0' || std::strcmp(value, "0") == 0) return s;
  s.on = true;
  char* end = nullptr;
  const long long given = std::strtoll(value, &end, 10);
  // "1", "yes": this process's first mark is the origin.
  s.origin = (end != value && *end == '\0' && given > 1000) ? given : now_us();
  return s;
}

const State& state() {
  static const State s = load();
  return s;
}

// Decimal digits of `v` at `out`; returns the end.
char* put_number(char* out, std::int64_t v) {
  char digits[24];
  int n = 0;
  const bool negative = v < 0;
  std::uint64_t u = negative ? static_cast<std::uint64_t>(-v) : static_cast<std::uint64_t>(v);
  do {
    digits[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (negative) *out++ = '-';
  while (n > 0) *out++ = digits[--n];
  return out;
}

char* put_text(char* out, const char* end, const char* text) {
  while (*text != '\0' && out < end) *out++ = *text++;
  return out;
}

}  // namespace

bool enabled() { return state().on; }

void mark(const char* phase) {
  const State& s = state();
  if (!s.on) return;
  const std::int64_t t = now_us() - s.origin;
  char line[256];
  char* const end = line + sizeof line - 1;
  char* p = put_text(line, end, "awf-trace: ");
  p = put_number(p, t);
  p = put_text(p, end, " ");
  p = put_text(p, end, program_invocation_short_name);
  p = put_text(p, end, " ");
  p = put_text(p, end, phase);
  *p++ = '\n';
  const int saved = errno;
  (void)!::write(STDERR_FILENO, line, static_cast<std::size_t>(p - line));
  errno = saved;
}

std::string origin_variable() {
  const State& s = state();
  if (!s.on) return {};
  return std::string(kVariable) + "=" + std::to_string(s.origin);
}

}  // namespace awf::startup_trace
