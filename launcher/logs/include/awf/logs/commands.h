// The `awf logs` command family on CLI11: `awf logs`, `awf logs stats`,
// `awf logs summary`, `awf logs audit`, `awf logs suggest`.
//
// Use from the awf main:
//
//   CLI::App app{"awf"};
//   auto logs = awf::logs::register_logs_commands(app);
//   ...  // other options and subcommands
//   try { app.parse(argc, argv); } catch (const CLI::ParseError& e) { ... exit 1 ... }
//   if (logs->selected()) return logs->run(std::cout, std::cerr, host_env, isatty(1));
//
// run() returns the process exit code: 0, or 1 after printing awf's error text
// (`[ERROR] ...`) on `err`. Informational lines (`[INFO] Using preserved logs
// from: ...`) go to `err` too, so stdout carries only the requested output.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <ostream>
#include <string>

#include "awf/logs/discovery.h"

namespace CLI {
class App;
}

namespace awf::logs {

struct LogsOptions {
  // awf logs
  bool follow = false;
  std::string format = "pretty";
  std::string source;
  bool list = false;
  bool with_pid = false;
  // awf logs stats / summary
  std::string stats_format = "pretty";
  std::string summary_format = "markdown";
  // awf logs audit
  std::string audit_format = "pretty";
  std::string rule;
  std::string domain;
  std::string decision;
  // awf logs suggest
  std::size_t collapse = 2;
  std::string output;  // a file to write; stdout when empty
};

class LogsCommand {
 public:
  enum class Which { none, logs, stats, summary, audit, suggest };

  // Which subcommand the parse selected (none when `logs` was not given).
  Which which() const;
  bool selected() const { return which() != Which::none; }
  const LogsOptions& options() const { return options_; }

  int run(std::ostream& out, std::ostream& err, const std::map<std::string, std::string>& env,
          bool stdout_is_tty) const;

  // Follow mode polls until this becomes true (tests; SIGINT ends awf
  // otherwise), or, following a live run, until that run's proxy is gone.
  std::atomic<bool>* stop_flag = nullptr;

 private:
  friend std::shared_ptr<LogsCommand> register_logs_commands(CLI::App& app);
  int run_logs(std::ostream& out, std::ostream& err, const DiscoveryEnv& env, bool tty) const;
  int run_stats(std::ostream& out, std::ostream& err, const DiscoveryEnv& env, bool tty, bool summary) const;
  int run_audit(std::ostream& out, std::ostream& err, const DiscoveryEnv& env, bool tty) const;
  int run_suggest(std::ostream& out, std::ostream& err, const DiscoveryEnv& env) const;

  LogsOptions options_;
  CLI::App* logs_ = nullptr;
  CLI::App* stats_ = nullptr;
  CLI::App* summary_ = nullptr;
  CLI::App* audit_ = nullptr;
  CLI::App* suggest_ = nullptr;
};

// Adds the `logs` subcommand (with `stats`, `summary`, `audit`, `suggest`) to `app`.
// The returned object must outlive app.parse(): CLI11 writes into it.
std::shared_ptr<LogsCommand> register_logs_commands(CLI::App& app);

}  // namespace awf::logs
