// The start-up trace: with AWF_TRACE_STARTUP set, awf, awf-proxy and
// awf-entrypoint write one line per phase on stderr,
//   awf-trace: <µs> <program> <phase>
// where <µs> counts CLOCK_MONOTONIC microseconds from one origin shared by
// the three programs. AWF_TRACE_STARTUP=<µs> (a CLOCK_MONOTONIC reading
// taken by the caller just before it started awf, as bench/startup.py does)
// is that origin; any other non-empty value but "0" makes the origin the
// first trace call of the process. awf passes the origin on to the programs
// it starts (startup_trace::origin_variable()). Off, a mark costs one
// branch on a cached flag.
#pragma once

#include <string>

namespace awf::startup_trace {

inline constexpr const char* kVariable = "AWF_TRACE_STARTUP";

// Whether the trace is on (read from the environment once).
bool enabled();

// Writes the phase's line (one write(2), so lines of several processes on
// one stderr do not mix). Async-signal-safe after the first call, so a
// forked child may call it before it execs.
void mark(const char* phase);

// "AWF_TRACE_STARTUP=<origin µs>" for a child's environment: its marks then
// count from the same origin. Empty when the trace is off.
std::string origin_variable();

}  // namespace awf::startup_trace
