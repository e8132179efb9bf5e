// The parent half of the launch: init duties while the command runs.
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <string>

#include "awf/entrypoint/launch.h"
#include "awf/entrypoint/log.h"

namespace awf::entrypoint {

const std::vector<int>& forwarded_signals() {
  static const std::vector<int> signals = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  return signals;
}

sigset_t supervisor_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : forwarded_signals()) sigaddset(&set, sig);
  sigaddset(&set, SIGCHLD);
  return set;
}

int exit_code_from_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitSetupFailed;
}

int supervise(pid_t child, UniqueFd report) {
  // Wait for the exec report first: EOF without bytes means execve worked.
  std::string message;
  char buf[1024];
  while (true) {
    ssize_t n = read(report.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(buf, static_cast<size_t>(n));
  }
  report.reset();
  if (!message.empty()) log_error(message);

  const sigset_t waited = supervisor_signals();
  const pid_t own_group = getpgrp();
  int exit_code = kExitSetupFailed;
  bool child_done = false;
  while (!child_done) {
    siginfo_t info;
    int sig = sigwaitinfo(&waited, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      log_error(fmt::format("sigwaitinfo failed: {}", errno_text(errno)));
      break;
    }
    if (sig != SIGCHLD) {
      // Keyboard signals (SI_KERNEL) already reached the command if it is in
      // our process group; forwarding them again would deliver them twice.
      if (info.si_code == SI_KERNEL && getpgid(child) == own_group) continue;
      if (kill(child, sig) != 0 && errno != ESRCH) {
        log_warn(fmt::format("Forwarding signal {} to the command failed: {}", sig, errno_text(errno)));
      }
      continue;
    }
    // One SIGCHLD may stand for several children: reap all that are ready,
    // the command's orphans included (we are their init or subreaper).
    while (true) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid < 0 && errno == EINTR) continue;
      if (pid <= 0) break;
      if (pid == child) {
        exit_code = exit_code_from_wait_status(status);
        child_done = true;
      }
    }
  }
  // Zombies left over; still-running orphans die with the PID namespace when
  // we exit as its init.
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  return exit_code;
}

}  // namespace awf::entrypoint
