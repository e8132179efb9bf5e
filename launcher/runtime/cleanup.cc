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

#include "awf/runtime/safe_tree.h"

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

// ---- PidFile ----

Result<PidFile> PidFile::write(const fs::path& path, pid_t pid) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Error{"cannot write " + path.string() + ": " + std::strerror(errno)};
  PidFile file;
  file.path_ = path;  // from here on removed again, whatever happens
  const std::string text = std::to_string(pid) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  ::close(fd);
  if (!written) return Error{"cannot write " + path.string() + ": " + std::strerror(err)};
  return file;
}

PidFile::PidFile(PidFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}

PidFile& PidFile::operator=(PidFile&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

PidFile::~PidFile() { remove(); }

void PidFile::remove() {
  if (path_.empty()) return;
  ::unlink(path_.c_str());
  path_.clear();
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
  // The command may have written below (its private /tmp lives here): the
  // removal never follows a link it left. Best effort: nothing to report to.
  if (auto parent = open_directory(path_.parent_path().empty() ? "." : path_.parent_path().string())) {
    (void)remove_tree_at(parent->get(), path_.filename().string(), path_.string());
  }
}

std::string WorkDir::timestamp() const {
  std::string name = path_.filename().string();
  return name.rfind("awf-", 0) == 0 ? name.substr(4) : name;
}

// ---- logs ----

Status make_world_readable(const fs::path& root) {
  auto dir = open_directory(root.string());
  if (!dir) return dir.error();
  return make_tree_readable(dir->get(), root.string());
}

Result<KeptLogs> preserve_logs(const fs::path& logs, const std::string& tmp_dir, const std::string& timestamp) {
  // Everything goes through descriptors: the work directory (root's own), the
  // temporary directory (the user's $TMPDIR, which the command may share and
  // write to), and the destination, which is created, never reused.
  const std::string parent_path = logs.parent_path().empty() ? "." : logs.parent_path().string();
  auto parent = open_directory(parent_path);
  if (!parent) return parent.error();
  const std::string logs_name = logs.filename().string();
  std::error_code ec;
  // The proxy never wrote (or never started): nothing to keep.
  if (!fs::is_directory(logs, ec) || fs::is_empty(logs, ec)) return KeptLogs{};
  auto logs_fd = open_directory_at(parent->get(), logs_name, logs.string());
  if (!logs_fd) return logs_fd.error();
  // $TMPDIR is the user's own setting: a link there is followed on purpose.
  UniqueFd tmp(::open(tmp_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!tmp) return Error{"cannot open " + tmp_dir + ": " + std::strerror(errno)};

  const std::string usual = "squid-logs-" + timestamp;
  KeptLogs kept;
  std::string name = usual;
  bool placed = false;
  for (int attempt = 0; attempt < 8 && !placed; ++attempt) {
    if (attempt > 0) name = usual + "-" + random_suffix();
    // RENAME_NOREPLACE: an existing name (a directory, file or link someone
    // else put there) is never replaced or written through.
    if (::renameat2(parent->get(), logs_name.c_str(), tmp.get(), name.c_str(), RENAME_NOREPLACE) == 0) {
      placed = true;
      break;
    }
    const int err = errno;
    if (err == EEXIST) continue;
    if (err != EXDEV && err != EINVAL) {
      return Error{"cannot move proxy logs " + logs.string() + " to " + tmp_dir + "/" + name + ": " + std::strerror(err)};
    }
    // Another file system (EXDEV), or one without RENAME_NOREPLACE (EINVAL):
    // a fresh directory of ours, then a copy into it.
    if (::mkdirat(tmp.get(), name.c_str(), 0700) != 0) {
      if (errno == EEXIST) continue;
      return Error{"cannot create " + tmp_dir + "/" + name + ": " + std::strerror(errno)};
    }
    auto destination = open_directory_at(tmp.get(), name, tmp_dir + "/" + name);
    if (!destination) return destination.error();
    if (auto status = copy_tree_at(logs_fd->get(), destination->get(), logs.string()); !status) {
      return Error{"cannot copy proxy logs to " + tmp_dir + "/" + name + ": " + status.message()};
    }
    placed = true;
  }
  if (!placed) {
    return Error{tmp_dir + "/" + usual + " and every alternative name were taken"};
  }
  kept.path = fs::path(tmp_dir) / name;
  if (name != usual) {
    kept.note = tmp_dir + "/" + usual + " already existed and was not made by this run; left untouched";
  }
  auto destination = open_directory_at(tmp.get(), name, kept.path.string());
  if (!destination) return destination.error();
  if (auto status = make_tree_readable(destination->get(), kept.path.string()); !status) {
    kept.note += (kept.note.empty() ? "" : "; ") + status.message();
  }
  return kept;
}

}  // namespace awf::runtime
