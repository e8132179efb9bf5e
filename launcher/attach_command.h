// `awf attach --pid PID [policy and log flags]`: awf's firewall for a process
// another sandbox already runs in a network namespace of its own.
#pragma once

#include <string>

#include "awf/cli/environment.h"
#include "awf/cli/options.h"

namespace CLI {
class App;
}

namespace awf::launcher {

// Registers `attach` on `app`: --pid and, with `with_flags`, awf's own flags
// (the same Options model, so values are validated with awf's messages);
// returns it. Without them the subcommand is listed but takes no flag: for
// a command line that cannot select it (about 1 ms of every awf start is
// registering them).
CLI::App* add_attach_command(CLI::App& app, cli::Options& options, long& pid, bool with_flags = true);

// Refuses the flags that only make sense for a command awf starts (naming
// the first one given), finalizes the rest as awf does, and runs
// runtime::run_attach. Returns the exit code.
int run_attach_command(const CLI::App& attach, cli::Options options, long pid, const cli::Environment& host_env);

}  // namespace awf::launcher
