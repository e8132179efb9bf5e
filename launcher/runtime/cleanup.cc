// Clean exits on every path: children tied to awf's life (PR_SET_PDEATHSIG),
// owned and reaped through pidfds, the work directory removed unless kept,
// and proxy logs preserved world-readable where awf users expect them.
#include "awf/runtime/cleanup.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <utility>

namespace awf::runtime {
namespace fs = std::filesystem;

bool die_with_parent(pid_t expected_parent) noexcept {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return false;
  // The parent may have died before prctl took effect. In a new PID
  // namespace getppid() is 0 (the parent is outside it), so the caller passes
  // 0 there and relies on its sync pipe's EOF instead.
  return expected_parent == 0 || ::getppid() == expected_parent;
}

// ---- Child ----

Child::Child(pid_t pid) : pid_(pid) {
  // pidfd_open(2) (Linux 5.3): readable once the process has exited. If it is
  // unavailable we still own the pid; waits then fall back to polling.
  pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd_ >= 0) ::fcntl(pidfd_, F_SETFD, FD_CLOEXEC);
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::exchange(other.pidfd_, -1)), status_(other.status_) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    if (running()) kill_and_reap();
    if (pidfd_ >= 0) ::close(pidfd_);
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    status_ = other.status_;
  }
  return *this;
}

Child::~Child() {
  if (running()) kill_and_reap();
  if (pidfd_ >= 0) ::close(pidfd_);
}

void Child::signal(int sig) const {
  if (!running()) return;
  // Through the pidfd when we have one: never a recycled pid.
  if (pidfd_ >= 0) {
    ::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0);
  } else {
    ::kill(pid_, sig);
  }
}

int Child::try_reap() {
  if (!running()) return status_;
  int status = 0;
  pid_t got;
  do {
    got = ::waitpid(pid_, &status, WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return -1;
  status_ = got == pid_ ? status : 0;  // ECHILD: someone else reaped it
  pid_ = -1;
  return status_;
}

int Child::stop(std::chrono::milliseconds grace) {
  if (!running()) return status_;
  signal(SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (;;) {
    if (int status = try_reap(); status >= 0) return status;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    } else {
      ::usleep(10'000);
    }
  }
  return kill_and_reap();
}

int Child::kill_and_reap() {
  if (!running()) return status_;
  signal(SIGKILL);
  int status = 0;
  pid_t got;
  do {
    got = ::waitpid(pid_, &status, 0);
  } while (got < 0 && errno == EINTR);
  status_ = got == pid_ ? status : 0;
  pid_ = -1;
  return status_;
}

int exit_code_from_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// ---- WorkDir ----

std::string temp_root(const std::string& configured) {
  if (!configured.empty()) return configured;
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

Status make_directory(const fs::path& dir, mode_t mode) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error{"cannot create directory " + dir.string() + ": " + ec.message()};
  if (::chmod(dir.c_str(), mode) != 0) {
    return Error{"cannot set mode of " + dir.string() + ": " + std::strerror(errno)};
  }
  return ok_status();
}

Result<WorkDir> WorkDir::create(const std::string& tmp_dir, const std::string& requested) {
  WorkDir dir;
  if (!requested.empty()) {
    dir.path_ = requested;
    if (auto status = make_directory(dir.path_, 0700); !status) return status.error();
    return dir;
  }
  // awf names it after Date.now(); a collision (two runs in one ms) takes the
  // next millisecond rather than sharing a directory.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  for (int attempt = 0; attempt < 100; ++attempt, ++ms) {
    fs::path candidate = fs::path(tmp_dir) / ("awf-" + std::to_string(ms));
    if (::mkdir(candidate.c_str(), 0700) == 0) {
      dir.path_ = candidate;
      return dir;
    }
    if (errno != EEXIST) return Error{"cannot create work directory " + candidate.string() + ": " + std::strerror(errno)};
  }
  return Error{"cannot create a work directory under " + tmp_dir + ": every name is taken"};
}

WorkDir::WorkDir(WorkDir&& other) noexcept : path_(std::move(other.path_)), keep_(other.keep_) {
  other.path_.clear();
}

WorkDir::~WorkDir() {
  if (path_.empty() || keep_) return;
  std::error_code ec;
  fs::remove_all(path_, ec);  // best effort: nothing to report to at this point
}

std::string WorkDir::timestamp() const {
  std::string name = path_.filename().string();
  return name.rfind("awf-", 0) == 0 ? name.substr(4) : name;
}

// ---- logs ----

Status make_world_readable(const fs::path& root) {
  std::string failures;
  auto add_read = [&](const fs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return;
    mode_t mode = st.st_mode | S_IRUSR | S_IRGRP | S_IROTH;
    // X: execute for directories (and files someone could already execute).
    if (S_ISDIR(st.st_mode) || (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) mode |= S_IXUSR | S_IXGRP | S_IXOTH;
    if (::chmod(p.c_str(), mode & 07777) != 0) failures += (failures.empty() ? "" : ", ") + p.string();
  };
  add_read(root);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    add_read(it->path());
  }
  if (ec) return Error{"cannot walk " + root.string() + ": " + ec.message()};
  if (!failures.empty()) return Error{"cannot make readable: " + failures};
  return ok_status();
}

Result<fs::path> preserve_logs(const fs::path& logs, const std::string& tmp_dir, const std::string& timestamp) {
  std::error_code ec;
  if (!fs::is_directory(logs, ec) || fs::is_empty(logs, ec)) return fs::path{};
  fs::path destination = fs::path(tmp_dir) / ("squid-logs-" + timestamp);
  fs::rename(logs, destination, ec);
  if (ec) {
    // EXDEV (work dir on another file system) or an existing destination.
    ec.clear();
    fs::copy(logs, destination, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
    if (ec) return Error{"cannot preserve proxy logs " + logs.string() + " to " + destination.string() + ": " +
                         ec.message()};
  }
  if (auto status = make_world_readable(destination); !status) return status.error();
  return destination;
}

}  // namespace awf::runtime
