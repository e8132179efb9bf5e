// Drives one load (see Mode) through a proxy, and the small echo origin it can target.
#pragma once

#include <chrono>

#include "options.h"
#include "report.h"

namespace awf::loadgen {

// Runs the load described by opts to completion (duration or request cap) and
// returns what happened. Blocks the calling thread.
Report run_load(const Options& opts);

// Serves a TCP echo on listen until SIGINT/SIGTERM or, when run_for is not
// zero, until run_for has passed. Returns a process exit code.
int serve_echo(const Endpoint& listen, std::chrono::milliseconds run_for);

}  // namespace awf::loadgen
