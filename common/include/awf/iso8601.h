// Instants as ISO-8601 text in UTC, one spelling for every program:
// `2025-10-21T19:19:34.646Z` (what JavaScript's Date#toISOString writes for
// years 0 to 9999) or, to the second, `2025-10-21T19:19:34Z`.
#pragma once

#include <chrono>
#include <string>

namespace awf {

enum class Iso8601Precision { seconds, milliseconds };

// Digits finer than `precision` are dropped toward the past (an instant
// before 1970 still shows the second it falls in). Milliseconds as the unit,
// so that any time a 64-bit time_t holds fits; a system_clock::time_point
// goes through std::chrono::floor<std::chrono::milliseconds>. The year is
// written with at least four digits.
std::string iso8601_utc(std::chrono::sys_time<std::chrono::milliseconds> t,
                        Iso8601Precision precision = Iso8601Precision::milliseconds);

}  // namespace awf
