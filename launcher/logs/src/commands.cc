// `awf logs` subcommands: option registration and the run logic.
#include "awf/logs/commands.h"

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <iterator>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "awf/unique_fd.h"

#include "awf/logs/audit.h"
#include "awf/logs/format.h"
#include "awf/logs/stats.h"
#include "awf/logs/suggest.h"

namespace awf::logs {

std::shared_ptr<LogsCommand> register_logs_commands(CLI::App& app) {
  auto cmd = std::make_shared<LogsCommand>();
  LogsOptions& o = cmd->options_;

  cmd->logs_ = app.add_subcommand("logs", "View and analyze firewall logs");
  auto* logs = cmd->logs_;
  logs->add_flag("-f,--follow", o.follow, "Follow log output in real-time (like tail -f)");
  logs->add_option("--format", o.format, "Output format: raw, pretty, json")->capture_default_str();
  logs->add_option("--source", o.source, "Path to log directory or \"running\" for the live firewall");
  logs->add_flag("--list", o.list, "List available log sources");
  logs->add_flag("--with-pid", o.with_pid, "Enrich logs with PID/process info (requires -f)");

  cmd->stats_ = logs->add_subcommand("stats", "Show aggregated statistics from firewall logs");
  cmd->stats_->add_option("--format", o.stats_format, "Output format: json, markdown, pretty")->capture_default_str();
  cmd->stats_->add_option("--source", o.source, "Path to log directory or \"running\" for the live firewall");

  cmd->summary_ = logs->add_subcommand("summary", "Generate summary report (optimized for GitHub Actions)");
  cmd->summary_->add_option("--format", o.summary_format, "Output format: json, markdown, pretty")
      ->capture_default_str();
  cmd->summary_->add_option("--source", o.source, "Path to log directory or \"running\" for the live firewall");

  cmd->audit_ = logs->add_subcommand("audit", "Show firewall audit with policy rule matching");
  cmd->audit_->add_option("--format", o.audit_format, "Output format: json, markdown, pretty")->capture_default_str();
  cmd->audit_->add_option("--source", o.source, "Path to log directory or \"running\" for the live firewall");
  cmd->audit_->add_option("--rule", o.rule, "Filter to a specific rule ID");
  cmd->audit_->add_option("--domain", o.domain, "Filter to a specific domain (substring match)");
  cmd->audit_->add_option("--decision", o.decision, "Filter by decision: allowed or denied");

  cmd->suggest_ = logs->add_subcommand(
      "suggest",
      "Print the smallest allowlist file (for --allow-domains-file) that lets through every name the log shows "
      "was asked for; run with --policy-mode report first to learn what a command needs");
  cmd->suggest_->add_option("--source", o.source, "Path to log directory or \"running\" for the live firewall");
  cmd->suggest_->add_option("--collapse", o.collapse,
                            "merge names under one registrable domain (eTLD+1) into it once this many were asked "
                            "for; 0: keep names as asked")
      ->capture_default_str();
  cmd->suggest_->add_option("-o,--output", o.output, "Write the file here instead of stdout");
  return cmd;
}

LogsCommand::Which LogsCommand::which() const {
  if (!logs_ || !logs_->parsed()) return Which::none;
  if (stats_->parsed()) return Which::stats;
  if (summary_->parsed()) return Which::summary;
  if (audit_->parsed()) return Which::audit;
  if (suggest_->parsed()) return Which::suggest;
  return Which::logs;
}

int LogsCommand::run(std::ostream& out, std::ostream& err, const std::map<std::string, std::string>& env,
                     bool stdout_is_tty) const {
  DiscoveryEnv denv = discovery_env(env);
  switch (which()) {
    case Which::none: return 0;
    case Which::logs: return run_logs(out, err, denv, stdout_is_tty);
    case Which::stats: return run_stats(out, err, denv, stdout_is_tty, false);
    case Which::summary: return run_stats(out, err, denv, stdout_is_tty, true);
    case Which::audit: return run_audit(out, err, denv, stdout_is_tty);
    case Which::suggest: return run_suggest(out, err, denv);
  }
  return 0;
}

namespace {

// awf's discoverAndSelectSource: an explicit --source must be valid; else the
// first discovered source (a live one if any, then the newest).
std::optional<LogSource> select_source(const std::string& option, const DiscoveryEnv& env, std::ostream& err,
                                       bool announce) {
  if (!option.empty()) {
    auto s = validate_source(option, env);
    if (!s.ok()) {
      err << "[ERROR] Invalid log source: " << s.message() << "\n";
      return std::nullopt;
    }
    return *s;
  }
  auto sources = discover_log_sources(env);
  if (sources.empty()) {
    err << "[ERROR] No log sources found. Run awf with a command first to generate logs.\n";
    return std::nullopt;
  }
  const LogSource& s = sources.front();
  if (announce) {
    if (s.kind == LogSource::Kind::running) {
      err << "[INFO] Using live logs from running firewall: " << s.path << "\n";
    } else {
      err << "[INFO] Using preserved logs from: " << s.path << "\n";
      if (!s.date_str.empty()) err << "[INFO] Log timestamp: " << s.date_str << "\n";
    }
  }
  return s;
}

// A log file read as it grows: complete lines as they appear, from one
// descriptor. A file that shrank was truncated: read again from its start.
class AppendedLines {
 public:
  explicit AppendedLines(std::string path) : path_(std::move(path)) { open(); }
  bool is_open() const { return fd_.valid(); }

  std::vector<std::string> read_new_lines() {
    struct stat st {};
    if (::fstat(fd_.get(), &st) == 0 && st.st_size < offset_) {
      offset_ = 0;
      partial_.clear();
    }
    char buffer[65536];
    for (;;) {
      const ssize_t got = ::pread(fd_.get(), buffer, sizeof buffer, offset_);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      offset_ += got;
      partial_.append(buffer, static_cast<std::size_t>(got));
    }
    std::vector<std::string> lines;
    for (std::size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
      lines.push_back(without_cr(partial_.substr(0, nl)));
      partial_.erase(0, nl + 1);
    }
    return lines;
  }

  // The last line when it has no newline (yet): at the end of the reading.
  std::vector<std::string> take_partial_line() {
    if (partial_.empty()) return {};
    return {without_cr(std::exchange(partial_, {}))};
  }

  // Log rotation put another file at the path: having read the old one to
  // its end, continue with the new one.
  void reopen_if_replaced() {
    struct stat now {}, ours {};
    if (::stat(path_.c_str(), &now) != 0 || ::fstat(fd_.get(), &ours) != 0) return;
    if (now.st_ino == ours.st_ino && now.st_dev == ours.st_dev) return;
    open();
  }

 private:
  static std::string without_cr(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  void open() {
    UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return;
    fd_ = std::move(fd);
    offset_ = 0;
    partial_.clear();
  }

  std::string path_;
  UniqueFd fd_;
  off_t offset_ = 0;
  std::string partial_;
};

void emit_line(std::ostream& out, std::string_view line, OutputFormat format, bool tty) {
  if (format == OutputFormat::raw) {
    out << line << "\n";
    return;
  }
  auto entry = parse_access_log_line(line);
  if (!entry) return;  // pretty/json show parsed entries only
  out << (format == OutputFormat::pretty ? format_pretty(*entry, tty) : format_json(*entry)) << "\n";
}

}  // namespace

int LogsCommand::run_logs(std::ostream& out, std::ostream& err, const DiscoveryEnv& env, bool tty) const {
  const LogsOptions& o = options_;
  if (o.list) {
    out << list_log_sources(discover_log_sources(env), env) << "\n";
    return 0;
  }
  OutputFormat format;
  std::string error;
  if (!parse_output_format(o.format, format, error)) {
    err << "[ERROR] " << error << "\n";
    return 1;
  }
  if (o.with_pid && !o.follow) {
    err << "[WARN] --with-pid only works with real-time streaming (-f). PID tracking disabled.\n";
  } else if (o.with_pid) {
    // The agent lives in its own network namespace: the host's /proc/net/tcp
    // cannot map its client ports to processes.
    err << "[WARN] --with-pid is not available with the native runtime (the agent has its own network "
           "namespace). PID tracking disabled.\n";
  }
  auto source = select_source(o.source, env, err, format != OutputFormat::json);
  if (!source) return 1;

  const std::string path = source->path + "/access.log";
  AppendedLines log(path);
  if (!log.is_open()) {
    err << "[ERROR] Failed to read logs: cannot open " << path << "\n";
    return 1;
  }
  // One descriptor from the first byte on: nothing written between printing
  // what is there and starting to follow is lost.
  auto emit_all = [&](const std::vector<std::string>& lines) {
    for (const auto& l : lines) emit_line(out, l, format, tty);
    out.flush();
  };
  emit_all(log.read_new_lines());
  if (!o.follow) {
    emit_all(log.take_partial_line());
    return 0;
  }

  // A live run is followed until its proxy is gone, as awf's `docker exec
  // tail -f` ends with the container; its log is then complete. Awf moves a
  // finished run's logs elsewhere, which the open descriptor does not mind.
  // Other sources are followed like `tail -F`, until interrupted.
  const bool live = source->kind == LogSource::Kind::running;
  while (!(stop_flag && stop_flag->load())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // Asked before reading: the pid file goes only after the proxy stopped
    // writing, so what is read after this answer is all there will be.
    const bool ended = live && !has_live_proxy(source->path);
    emit_all(log.read_new_lines());
    if (ended) {
      emit_all(log.take_partial_line());
      break;
    }
    if (!live) log.reopen_if_replaced();
  }
  return 0;
}

int LogsCommand::run_stats(std::ostream& out, std::ostream& err, const DiscoveryEnv& env, bool tty,
                           bool summary) const {
  const std::string& text = summary ? options_.summary_format : options_.stats_format;
  StatsFormat format;
  std::string error;
  if (!parse_stats_format(text, format, error)) {
    err << "[ERROR] " << error << "\n";
    return 1;
  }
  // stats announces its source unless printing JSON; summary only in pretty
  // mode, so its markdown can be appended to $GITHUB_STEP_SUMMARY as is.
  bool announce = summary ? format == StatsFormat::pretty : format != StatsFormat::json;
  auto source = select_source(options_.source, env, err, announce);
  if (!source) return 1;
  auto entries = load_entries(*source);
  auto manifest = find_policy_manifest(*source, env);
  std::set<std::string> peers;
  if (manifest) {
    for (const auto& p : manifest->topology_peers) {
      std::string l = p;
      for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      peers.insert(l);
    }
  }
  Stats stats = aggregate(entries, peers);
  if (manifest) {
    // Rule hits count requests, like the totals above; refused lookups are
    // listed on their own and would otherwise pile up on deny-default.
    std::vector<LogEntry> requests;
    std::copy_if(entries.begin(), entries.end(), std::back_inserter(requests),
                 [](const LogEntry& e) { return !is_dns_refusal(e); });
    stats.by_rule = rule_hits(audit_entries(requests, *manifest), *manifest);
  }
  out << format_stats(stats, format, tty && format == StatsFormat::pretty) << "\n";
  return 0;
}

int LogsCommand::run_audit(std::ostream& out, std::ostream& err, const DiscoveryEnv& env, bool tty) const {
  const LogsOptions& o = options_;
  StatsFormat format;
  std::string error;
  if (!parse_stats_format(o.audit_format, format, error)) {
    err << "[ERROR] " << error << "\n";
    return 1;
  }
  if (!o.decision.empty() && o.decision != "allowed" && o.decision != "denied") {
    err << "[ERROR] Invalid decision filter: " << o.decision << ". Must be \"allowed\" or \"denied\".\n";
    return 1;
  }
  auto source = select_source(o.source, env, err, format != StatsFormat::json);
  if (!source) return 1;
  auto entries = load_entries(*source);
  if (entries.empty()) {
    err << "[ERROR] No log entries found.\n";
    return 1;
  }
  auto manifest = find_policy_manifest(*source, env);
  if (!manifest) {
    err << "[ERROR] No policy-manifest.json found. The audit command requires a policy manifest.\n"
           "Ensure you are using a version of awf that generates audit artifacts (--audit-dir).\n";
    return 1;
  }
  auto audited = filter_audited(audit_entries(entries, *manifest), AuditFilter{o.rule, o.domain, o.decision});
  switch (format) {
    case StatsFormat::json: out << format_audit_json(audited) << "\n"; break;
    case StatsFormat::markdown: out << format_audit_markdown(audited, *manifest) << "\n"; break;
    case StatsFormat::pretty: out << format_audit_pretty(audited, *manifest, tty) << "\n"; break;
  }
  return 0;
}

int LogsCommand::run_suggest(std::ostream& out, std::ostream& err, const DiscoveryEnv& env) const {
  auto psl = policy::PublicSuffixList::load();
  if (!psl) {
    err << "[ERROR] " << psl.message() << " (install the publicsuffix package)\n";
    return 1;
  }
  auto source = select_source(options_.source, env, err, true);
  if (!source) return 1;
  const auto entries = load_entries(*source);
  if (entries.empty()) {
    err << "[ERROR] No log entries found.\n";
    return 1;
  }
  const std::string text =
      suggest_allowlist(entries, *psl, SuggestOptions{.collapse = options_.collapse, .source = source->path});
  if (options_.output.empty()) {
    out << text;
    return 0;
  }
  std::ofstream file(options_.output);
  file << text;
  file.close();
  if (!file) {
    err << "[ERROR] cannot write " << options_.output << "\n";
    return 1;
  }
  err << "[INFO] Allowlist written to " << options_.output << "\n";
  return 0;
}

}  // namespace awf::logs
