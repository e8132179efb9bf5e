// iso8601_utc: JavaScript's Date#toISOString for years 0 to 9999, and the
// same to the second.
#include "awf/iso8601.h"

#include <gtest/gtest.h>

namespace awf {
namespace {

using std::chrono::milliseconds;
using Ms = std::chrono::sys_time<milliseconds>;

TEST(Iso8601, WritesUtcToTheMillisecond) {
  struct Case {
    const char* why;
    long long ms;
    const char* text;
  } cases[] = {
      {"the epoch", 0, "1970-01-01T00:00:00.000Z"},
      {"an access-log time", 1761074374646, "2025-10-21T19:19:34.646Z"},
      {"milliseconds keep three digits", 1761074374005, "2025-10-21T19:19:34.005Z"},
      {"a leap day", 1709208000123, "2024-02-29T12:00:00.123Z"},
      {"the last millisecond of a year", 1735689599999, "2024-12-31T23:59:59.999Z"},
      {"before the epoch, the millisecond before it", -1, "1969-12-31T23:59:59.999Z"},
      {"before the epoch, a whole second", -1000, "1969-12-31T23:59:59.000Z"},
      {"the last four-digit year", 253402300799999, "9999-12-31T23:59:59.999Z"},
      {"five-digit years are written whole", 253402300800000, "10000-01-01T00:00:00.000Z"},
  };
  for (const auto& c : cases) EXPECT_EQ(iso8601_utc(Ms(milliseconds(c.ms))), c.text) << c.why;
}

TEST(Iso8601, WritesUtcToTheSecond) {
  EXPECT_EQ(iso8601_utc(Ms(milliseconds(1761074374646)), Iso8601Precision::seconds), "2025-10-21T19:19:34Z");
  EXPECT_EQ(iso8601_utc(Ms(milliseconds(-1)), Iso8601Precision::seconds), "1969-12-31T23:59:59Z");
  EXPECT_EQ(iso8601_utc(std::chrono::sys_seconds(std::chrono::seconds(0)), Iso8601Precision::seconds),
            "1970-01-01T00:00:00Z");
}

TEST(Iso8601, SystemClockTimesAreFlooredToTheMillisecond) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1761074374646999999));
  EXPECT_EQ(iso8601_utc(std::chrono::floor<milliseconds>(t)), "2025-10-21T19:19:34.646Z");
}

}  // namespace
}  // namespace awf
