// Running the command: the child half (enter the root, give up every
// privilege, load seccomp, verify, exec) and the parent half (wait for the
// exec report, forward signals, reap, map the status to an exit code).
// Parent and child talk over a close-on-exec pipe: the child writes one
// message and exits if a step fails; EOF without a message means exec worked.
#pragma once

#include <linux/filter.h>
#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "awf/unique_fd.h"
#include "awf/entrypoint/identity.h"

namespace awf::entrypoint {

// Exit codes of our own (everything else is the command's).
inline constexpr int kExitSetupFailed = 1;        // configuration or sandbox setup (awf: 1)
inline constexpr int kExitCannotExecute = 126;    // found but not executable (shell convention)
inline constexpr int kExitCommandNotFound = 127;  // shell convention, awf's preflight code

struct LaunchPlan {
  std::string root;     // chroot(2) here
  std::string workdir;  // inside the root
  Identity identity;
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  std::string search_path;  // the command's PATH, to resolve argv[0]
  std::vector<sock_filter> seccomp;  // compile_seccomp_filter(), loaded last in the child
};

// One shell string is awf's contract (`/bin/bash -c <string>`); several
// arguments are exec'd as they are.
std::vector<std::string> command_argv(const std::vector<std::string>& command);

// Child half; never returns.
[[noreturn]] void exec_command(const LaunchPlan& plan, int report_fd, const sigset_t& original_mask);

// Signals forwarded to the command (tini's set, awf's TERM/INT trap).
const std::vector<int>& forwarded_signals();
// The forwarded signals plus SIGCHLD: blocked before fork, waited for with
// sigwaitinfo(2). Blocked signals are never discarded, even for PID 1 without
// handlers (pid_namespaces(7) drops unhandled signals sent to init).
sigset_t supervisor_signals();

// 0..255 as exited; 128+N for death by signal N.
int exit_code_from_wait_status(int status);

// Parent half: the exit code the entrypoint should end with.
int supervise(pid_t child, UniqueFd report);

}  // namespace awf::entrypoint
