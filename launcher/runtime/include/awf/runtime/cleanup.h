// What makes every exit path clean: children that die with awf, a work
// directory removed unless kept, and proxy logs preserved world-readable
// where awf users look for them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "awf/result.h"

namespace awf::runtime {

// In a child right after fork/clone: SIGKILL when the parent thread dies, so
// SIGKILL of awf leaves no proxy or agent behind (prctl(2) PR_SET_PDEATHSIG).
// Returns false when the parent is already gone (the caller must _exit).
bool die_with_parent(pid_t expected_parent) noexcept;

// A child process owned by awf: killed (SIGKILL) and reaped when the owner
// goes away without having waited for it. Holds a pidfd (pidfd_open(2)) so a
// poll loop can wait for its exit without SIGCHLD plumbing.
class Child {
 public:
  Child() = default;
  explicit Child(pid_t pid);
  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_; }
  bool running() const { return pid_ > 0; }

  void signal(int sig) const;
  // Reaps the child if it has exited; returns its wait status, or -1 while it
  // still runs.
  int try_reap();
  // SIGTERM, up to `grace` for it to exit, then SIGKILL; returns the status.
  int stop(std::chrono::milliseconds grace);
  // SIGKILL and reap.
  int kill_and_reap();

 private:
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int status_ = 0;
};

// A file holding a process id, removed when the object goes away or on
// remove(), so no exit path leaves a stale one behind.
class PidFile {
 public:
  // Creates or replaces `path` (never through a link) with "<pid>\n".
  static Result<PidFile> write(const std::filesystem::path& path, pid_t pid);
  PidFile() = default;
  PidFile(PidFile&& other) noexcept;
  PidFile& operator=(PidFile&& other) noexcept;
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  ~PidFile();
  void remove();

 private:
  std::filesystem::path path_;
};

// awf's exit status convention: the exit code, or 128+N for signal N.
int exit_code_from_wait_status(int status);

// The run's scratch directory (<tmp>/awf-<ms> unless given), removed with its
// contents when the object goes away unless keep() was called.
class WorkDir {
 public:
  static Result<WorkDir> create(const std::string& tmp_dir, const std::string& requested);
  WorkDir(WorkDir&& other) noexcept;
  WorkDir& operator=(WorkDir&&) = delete;
  WorkDir(const WorkDir&) = delete;
  ~WorkDir();

  const std::filesystem::path& path() const { return path_; }
  // awf's timestamp: the directory's name without "awf-".
  std::string timestamp() const;
  void keep() { keep_ = true; }

 private:
  WorkDir() = default;
  std::filesystem::path path_;
  bool keep_ = false;
};

// $TMPDIR, else /tmp, unless `configured` is set.
std::string temp_root(const std::string& configured);

// mkdir -p with `mode` on the leaf; fine when it exists.
Status make_directory(const std::filesystem::path& dir, mode_t mode);

// chmod a+rX over the tree (awf's log preservation), through descriptors
// (no link is followed). Best effort: failures come back as one message.
Status make_world_readable(const std::filesystem::path& root);

struct KeptLogs {
  std::filesystem::path path;  // where the logs are now
  std::string note;            // why not the usual name, or what stayed private
};

// Moves the `logs` directory (inside root's work directory) to
// <tmp>/squid-logs-<ts>, or, when that name exists already (the command may
// share <tmp>), to squid-logs-<ts>-<random>; never onto or through an
// existing name. Copies across file systems. Makes the result world-readable.
// An error means the logs are still where they were.
Result<KeptLogs> preserve_logs(const std::filesystem::path& logs, const std::string& tmp_dir,
                               const std::string& timestamp);

}  // namespace awf::runtime
