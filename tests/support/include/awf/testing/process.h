// Child processes for integration tests: spawn a program with arguments and
// extra environment, capture its stdout and stderr while it runs, wait for a
// line, send signals, and wait for the exit with a deadline.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace awf::testing {

class Process {
 public:
  // Starts argv[0] (looked up in PATH when it has no '/'). `env` entries
  // ("NAME=value") replace or add to the inherited environment, from which
  // the machine's proxy variables (http_proxy, NO_PROXY, ...) are left out:
  // a test that wants them passes them in `env`. Never throws;
  // a failed exec shows as exit code 127 with the reason on stderr_text().
  static std::unique_ptr<Process> spawn(const std::vector<std::string>& argv,
                                        const std::vector<std::string>& env = {});
  ~Process();  // SIGKILL and reap if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int pid() const { return pid_; }
  void signal(int sig) const;
  // Exit code, or 128+signal when killed; nullopt when still running at the deadline.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();

  std::string stdout_text() const;
  std::string stderr_text() const;
  // Waits until stderr contains `needle`; returns the whole line holding it.
  std::optional<std::string> wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout) const;
  // Counts lines of stderr that contain `needle`.
  std::size_t stderr_count(std::string_view needle) const;

  struct Impl;

 private:
  Process() = default;
  int pid_ = -1;
  std::optional<int> exit_code_;
  std::unique_ptr<Impl> impl_;
};

struct RunResult {
  int exit_code = -1;  // -1: timed out (the process was killed)
  std::string out;
  std::string err;
};
// Runs a program to completion with a deadline.
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace awf::testing
