// The log directory's life: created private, announced while the proxy
// serves, preserved world-readable afterwards.
#include "run_logs.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "awf/errno_text.h"

namespace awf::runtime {

namespace fs = std::filesystem;

int exit_code_for_signal(int sig) { return sig == SIGINT ? kExitInterrupted : kExitTerminated; }
const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

namespace {

// awf and its proxy write the log directory as awf's user (root for sudo
// awf) after the command started: if anyone else could write there, they
// could swap a file for a link and have root write through it.
Status check_private_directory(const fs::path& dir, const char* flag) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return Error{std::string(flag) + " " + dir.string() + ": " + errno_text(errno)};
  if (!S_ISDIR(st.st_mode)) return Error{std::string(flag) + " " + dir.string() + " is not a directory (a link?)"};
  if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return Error{std::string(flag) + " " + dir.string() + " (owner uid " + std::to_string(st.st_uid) + ", mode " +
                 mode + ") can be written by others, who could replace the files awf writes there; use a "
                 "directory only you can write to"};
  }
  return ok_status();
}

}  // namespace

// The proxy's log directory and the command's /tmp, created before any
// process exists.
Result<RunDirectories> make_run_directories(const RuntimeConfig& config, const WorkDir& work) {
  RunDirectories dirs;
  dirs.log_dir = config.proxy_logs_dir.empty() ? work.path() / "squid-logs" : fs::path(config.proxy_logs_dir);
  // World-writable is not needed: the proxy runs as awf's own user.
  if (auto status = make_directory(dirs.log_dir, 0755); !status) return status.error();
  if (auto status = check_private_directory(dirs.log_dir, "--proxy-logs-dir"); !status) return status.error();
  // The command's private /tmp (sticky, world-writable like any /tmp): host
  // sockets under the host's /tmp stay out of its reach.
  if (!config.share_host_tmp) {
    dirs.private_tmp = work.path() / "tmp";
    if (auto status = make_directory(dirs.private_tmp, 01777); !status) return status.error();
  }
  return dirs;
}

// Best effort: without the pid file the run still works, `awf logs` only
// sees it as finished until it is.
PidFile announce_live_proxy(const RuntimeConfig& config, const fs::path& log_dir, pid_t proxy_pid,
                            const Diagnostics& diag) {
  if (config.proxy_pid_file.empty()) return {};
  auto written = PidFile::write(log_dir / config.proxy_pid_file, proxy_pid);
  if (!written) {
    diag.warn("awf logs will not see this run as live: " + written.message());
    return {};
  }
  return std::move(*written);
}

bool keep_proxy_logs(const RuntimeConfig& config, const Plan& plan, WorkDir& work, const std::string& tmp,
                     const Diagnostics& diag) {
  if (plan.logs_dir_given) {
    if (auto status = make_world_readable(plan.log_dir); !status) diag.warn("proxy logs: " + status.message());
  } else if (auto kept = preserve_logs(plan.log_dir, tmp, work.timestamp()); !kept) {
    // They stay in the work directory.
    work.keep();
    diag.error("proxy logs not preserved: " + kept.message() + "; the logs remain at " + plan.log_dir.string());
    return false;
  } else if (!kept->path.empty()) {
    if (!kept->note.empty()) diag.warn("proxy logs: " + kept->note);
    diag.info("Squid logs preserved at: " + kept->path.string());
    if (config.on_logs_preserved) config.on_logs_preserved(kept->path.string());
  }
  return true;
}

}  // namespace awf::runtime
