// awf's own stderr lines while it runs the command: "[INFO] ..." and friends,
// filtered by --log-level, and the wording of durations and exit statuses in
// them.
#pragma once

#include <chrono>
#include <string>

namespace awf::runtime {

class Diagnostics {
 public:
  // "debug"/"trace", "info" (also anything unknown), "warn"/"warning", "error".
  explicit Diagnostics(const std::string& level);
  bool debug_enabled() const { return rank_ == 0; }
  void debug(const std::string& m) const { write(0, "[DEBUG] ", m); }
  void info(const std::string& m) const { write(1, "[INFO] ", m); }
  void warn(const std::string& m) const { write(2, "[WARN] ", m); }
  void error(const std::string& m) const { write(3, "[ERROR] ", m); }

 private:
  void write(int rank, const char* prefix, const std::string& m) const;
  int rank_;
};

// --agent-timeout is given in minutes; tests use milliseconds: "5 minutes",
// "1 minute", "300 ms".
std::string describe_duration(std::chrono::milliseconds d);

// How a child ended, for a message: "signal 9" or "code 3".
std::string describe_wait_status(int status);

// Milliseconds since `started`, for the debug timeline of start-up.
std::string elapsed_ms(std::chrono::steady_clock::time_point started);

}  // namespace awf::runtime
