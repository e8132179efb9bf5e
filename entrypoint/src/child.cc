// The child half of the launch: from root in the parent's mount namespace to
// the unprivileged command, in a fixed order, seccomp last.
#include <fcntl.h>
#include <signal.h>
#include <linux/close_range.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "awf/entrypoint/capabilities.h"
#include "awf/entrypoint/confinement.h"
#include "awf/entrypoint/launch.h"
#include "awf/entrypoint/log.h"
#include "awf/entrypoint/overlay.h"
#include "awf/entrypoint/seccomp.h"
#include "awf/startup_trace.h"

namespace awf::entrypoint {
namespace {

[[noreturn]] void fail(int report_fd, int code, const std::string& message) {
  const char* p = message.data();
  size_t left = message.size();
  while (left > 0) {
    ssize_t n = write(report_fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
  _exit(code);
}

void check(int report_fd, const Status& s) {
  if (!s) fail(report_fd, kExitSetupFailed, s.message());
}

bool is_executable_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// execvp(3) would search the entrypoint's PATH, not the command's.
std::string resolve_program(const std::string& name, const std::string& search_path) {
  if (name.find('/') != std::string::npos) return name;
  size_t start = 0;
  while (start <= search_path.size()) {
    size_t end = search_path.find(':', start);
    if (end == std::string::npos) end = search_path.size();
    std::string dir = search_path.substr(start, end - start);
    start = end + 1;
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (is_executable_file(candidate)) return candidate;
  }
  return {};
}

}  // namespace

std::vector<std::string> command_argv(const std::vector<std::string>& command) {
  if (command.size() == 1) return {"/bin/bash", "-c", command[0]};
  return command;
}

void exec_command(const LaunchPlan& plan, int report_fd, const sigset_t& original_mask) {
  // The parent blocked the signals it waits for; the command must get them.
  sigprocmask(SIG_SETMASK, &original_mask, nullptr);
  // A launcher written in a language that ignores SIGPIPE (Node, Python
  // before 3.x's restore) would pass that on through exec: `yes | head` in
  // the command must end by SIGPIPE as in a terminal.
  signal(SIGPIPE, SIG_DFL);

  if (chroot(plan.root.c_str()) != 0) {
    fail(report_fd, kExitSetupFailed, fmt::format("chroot(\"{}\") failed: {}", plan.root, errno_text(errno)));
  }
  if (chdir("/") != 0) fail(report_fd, kExitSetupFailed, fmt::format("chdir(\"/\") failed: {}", errno_text(errno)));

  // Privileges: bounding/ambient need CAP_SETPCAP, so before the user switch.
  startup_trace::mark("child: forked");
  check(report_fd, drop_bounding_and_ambient());
  check(report_fd, switch_user(plan.identity));
  check(report_fd, set_no_new_privs());
  startup_trace::mark("child: privileges dropped");

  // As the user, so a directory the user cannot enter is noticed (awf: `cd wd || cd /`).
  if (chdir(plan.workdir.c_str()) != 0) {
    log_warn(fmt::format("Cannot enter working directory {} as UID {}: {}; using /", plan.workdir,
                         plan.identity.uid, errno_text(errno)));
    if (chdir("/") != 0) fail(report_fd, kExitSetupFailed, "chdir(\"/\") failed");
  }

  const std::string program = resolve_program(plan.argv[0], plan.search_path);
  if (program.empty()) fail(report_fd, kExitCommandNotFound, fmt::format("Command not found: {}", plan.argv[0]));

  std::vector<char*> argv;
  for (const auto& a : plan.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : plan.envp) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  // No descriptor of ours reaches the command except stdin/stdout/stderr
  // (the report pipe is already close-on-exec).
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    fail(report_fd, kExitSetupFailed, fmt::format("close_range failed: {}", errno_text(errno)));
  }

  // Seccomp last: it denies calls the steps above make.
  check(report_fd, load_seccomp_program(plan.seccomp));

  auto status = read_file("/proc/self/status", false);
  if (!status) fail(report_fd, kExitSetupFailed, status.message());
  // Rootless: setgroups(2) was impossible, so the groups to expect are the
  // ones inherited (they were the invoking user's own; nothing was gained).
  Identity expected = plan.identity;
  if (setgroups_denied()) {
    const int n = getgroups(0, nullptr);
    expected.groups.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (n > 0 && getgroups(n, expected.groups.data()) != n) {
      fail(report_fd, kExitSetupFailed, fmt::format("getgroups failed: {}", errno_text(errno)));
    }
  }
  check(report_fd, check_confinement(*status, expected));

  startup_trace::mark("child: confined, exec");
  execve(program.c_str(), argv.data(), envp.data());
  int err = errno;
  fail(report_fd, err == ENOENT ? kExitCommandNotFound : kExitCannotExecute,
       fmt::format("Executing {} failed: {}", program, errno_text(err)));
}

}  // namespace awf::entrypoint
