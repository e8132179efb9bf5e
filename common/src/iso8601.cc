// ISO-8601 UTC timestamps (see awf/iso8601.h).
#include "awf/iso8601.h"

#include <cstdio>
#include <ctime>

namespace awf {

std::string iso8601_utc(std::chrono::sys_time<std::chrono::milliseconds> t, Iso8601Precision precision) {
  const long long ms = t.time_since_epoch().count();
  long long secs = ms / 1000;
  long long millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    secs -= 1;
  }
  const auto tt = static_cast<std::time_t>(secs);
  // gmtime_r fails only for years an int cannot hold; the fields then stay zero.
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (precision == Iso8601Precision::milliseconds) {
    n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%03lld", millis);
  }
  std::string out(buf, static_cast<std::size_t>(n));
  out += 'Z';
  return out;
}

}  // namespace awf
