// The entrypoint's top function: its ordered list of steps.
#pragma once

#include "awf/entrypoint/config.h"

namespace awf::entrypoint {

// Runs the command as configured; returns the process exit code (the
// command's, or 1 when a step failed, having logged why).
int run(const Config& cfg, const EnvMap& env);

}  // namespace awf::entrypoint
