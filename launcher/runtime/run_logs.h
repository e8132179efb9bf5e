// The parts of a run that `awf` and `awf attach` share: the log directory
// (created private, preserved afterwards), the live-proxy pid file, and the
// exit codes for SIGINT and SIGTERM.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "awf/result.h"
#include "awf/runtime/cleanup.h"
#include "awf/runtime/runtime.h"
#include "diagnostics.h"
#include "plan.h"

namespace awf::runtime {

// awf's exit code when it was stopped by `sig`: 130 for SIGINT, 143 for
// SIGTERM, as in awf.
int exit_code_for_signal(int sig);
const char* signal_name(int sig);

struct RunDirectories {
  std::filesystem::path log_dir;
  std::filesystem::path private_tmp;  // empty: the command shares the host's /tmp
};

// The proxy's log directory (--proxy-logs-dir, else inside the work
// directory; refused when others can write to it) and, unless the host's
// /tmp is shared, the command's private /tmp.
Result<RunDirectories> make_run_directories(const RuntimeConfig& config, const WorkDir& work);

// Writes config.proxy_pid_file into the log directory while the proxy
// serves. Best effort: a failure is a warning.
PidFile announce_live_proxy(const RuntimeConfig& config, const std::filesystem::path& log_dir, pid_t proxy_pid,
                            const Diagnostics& diag);

// Logs are kept, the work directory is not. False when the logs could not be
// preserved (reported here): they are the record of what the command did, so
// losing them is a failure of the run, never a warning.
bool keep_proxy_logs(const RuntimeConfig& config, const Plan& plan, WorkDir& work, const std::string& tmp,
                     const Diagnostics& diag);

}  // namespace awf::runtime
