// What `awf -- <command>` and `awf attach` do alike with validated options:
// awf's notices at the chosen level, the policy and DNS settings handed to
// awf-proxy, and awf's record of the run that `awf logs` trusts.
#pragma once

#include <string>

#include "awf/cli/environment.h"
#include "awf/cli/options.h"
#include "awf/runtime/runtime.h"

namespace awf::launcher {

// Whether a line of `level` shows at --log-level `configured`.
bool shows(cli::LogLevel configured, cli::Notice::Level level);

// Prints cfg.notices to stderr with their "[INFO] "-style prefixes.
void print_notices(const cli::LaunchConfig& cfg);

std::string env_or(const cli::Environment& env, const char* name, std::string fallback = {});

// The policy, DNS and logging fields of `rc` from `cfg`: domains, DNS servers
// and policy, the tunnel SNI check, private ranges, log level, logs and work
// directories, and the hosts file the proxy reads (--hosts-file, else the
// machine's /etc/hosts, as Squid in awf).
void apply_proxy_settings(const cli::LaunchConfig& cfg, runtime::RuntimeConfig& rc);

// awf's record of this run (`awf logs` finds runs only through it), kept
// up to date with the log directory, and the live-proxy pid file's name.
void record_run(runtime::RuntimeConfig& rc, const cli::Environment& host_env, cli::LogLevel level);

// The whole access.log of `log_dir` (empty when it cannot be read).
std::string read_access_log(const std::string& log_dir);

}  // namespace awf::launcher
