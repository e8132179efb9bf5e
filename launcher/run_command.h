// `awf [options] -- <command>`: validated options -> the native runtime.
#pragma once

#include "awf/cli/environment.h"
#include "awf/cli/options.h"

namespace CLI {
class App;
}

namespace awf::launcher {

// Finalizes the parsed options (awf's messages, exit 1), builds the agent's
// environment and the runtime configuration, runs the command in the sandbox
// and returns awf's exit code. Must be called while the process is still
// single-threaded (the runtime clones the agent).
int run_command(const CLI::App& app, cli::Options options, const cli::Environment& host_env);

}  // namespace awf::launcher
