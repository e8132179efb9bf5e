// Log source discovery and loading for `awf logs`.
#include "awf/logs/discovery.h"

#include "awf/logs/run_records.h"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace awf::logs {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double mtime_ms(const fs::path& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  if (ec) return 0;
  auto sys = std::chrono::file_clock::to_sys(t);
  return static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count());
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

LogSource make_source(const fs::path& dir, double ts_ms, bool from_env) {
  LogSource s;
  s.kind = has_live_proxy(dir) ? LogSource::Kind::running : LogSource::Kind::preserved;
  s.path = dir.string();
  s.timestamp_ms = ts_ms;
  s.date_str = locale_date_string(ts_ms);
  s.from_env = from_env;
  return s;
}

}  // namespace

bool has_live_proxy(const std::string& dir) {
  auto text = read_file(fs::path(dir) / kLivePidFile);
  if (!text) return false;
  long pid = 0;
  auto begin = text->data();
  auto [ptr, ec] = std::from_chars(begin, begin + text->size(), pid);
  if (ec != std::errc() || pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

DiscoveryEnv discovery_env(const std::map<std::string, std::string>& env) {
  DiscoveryEnv d;
  if (auto it = env.find("AWF_LOGS_DIR"); it != env.end() && !it->second.empty()) d.awf_logs_dir = it->second;
  if (auto it = env.find("AWF_AUDIT_DIR"); it != env.end() && !it->second.empty()) d.awf_audit_dir = it->second;
  if (auto it = env.find("TMPDIR"); it != env.end() && !it->second.empty()) {
    d.tmpdir = it->second;
    while (d.tmpdir.size() > 1 && d.tmpdir.back() == '/') d.tmpdir.pop_back();
  }
  d.state_dirs = trusted_state_dirs(env);
  return d;
}

std::string locale_date_string(double epoch_ms) {
  std::time_t t = static_cast<std::time_t>(epoch_ms / 1000.0);
  std::tm tm{};
  localtime_r(&t, &tm);
  int hour12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%d/%d/%d, %d:%02d:%02d %s", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900, hour12,
                tm.tm_min, tm.tm_sec, tm.tm_hour < 12 ? "AM" : "PM");
  return buf;
}

std::vector<LogSource> discover_log_sources(const DiscoveryEnv& env) {
  std::vector<LogSource> sources;
  if (env.awf_logs_dir) {
    fs::path dir(*env.awf_logs_dir);
    if (is_file(dir / "access.log")) {
      sources.push_back(make_source(dir, mtime_ms(dir / "access.log"), true));
    } else if (is_file(dir / "squid-logs" / "access.log")) {
      sources.push_back(make_source(dir / "squid-logs", mtime_ms(dir / "squid-logs" / "access.log"), true));
    }
  }

  // Preserved and live runs: only those awf itself recorded (a shared /tmp
  // lets the sandboxed command forge a squid-logs-<ms> directory), and only
  // when the directory still belongs to the run's user and nobody else can
  // write to it.
  for (const auto& record : read_run_records(env.state_dirs, nullptr)) {
    if (!check_log_dir(record.log_dir, record.owner)) continue;
    if (std::any_of(sources.begin(), sources.end(), [&](const LogSource& s) { return s.path == record.log_dir; })) {
      continue;
    }
    double ts = 0;
    std::from_chars(record.id.data(), record.id.data() + record.id.size(), ts);
    sources.push_back(make_source(record.log_dir, ts, false));
  }

  std::stable_sort(sources.begin(), sources.end(), [](const LogSource& a, const LogSource& b) {
    if (a.kind != b.kind) return a.kind == LogSource::Kind::running;
    return a.timestamp_ms.value_or(0) > b.timestamp_ms.value_or(0);
  });
  return sources;
}

Result<LogSource> validate_source(const std::string& arg, const DiscoveryEnv& env) {
  if (arg == "running") {
    for (auto& s : discover_log_sources(env)) {
      if (s.kind == LogSource::Kind::running) return s;
    }
    return Error{"No running awf firewall found (no log directory with a live " + std::string(kLivePidFile) + ")"};
  }
  std::error_code ec;
  fs::path p = fs::absolute(arg, ec);
  if (ec) p = arg;
  p = p.lexically_normal();
  if (!p.empty() && p.filename().empty()) p = p.parent_path();  // drop a trailing slash
  if (fs::exists(p, ec)) {
    if (fs::is_directory(p, ec)) {
      if (fs::exists(p / "access.log", ec)) {
        LogSource s;
        s.path = p.string();
        s.kind = has_live_proxy(p) ? LogSource::Kind::running : LogSource::Kind::preserved;
        return s;
      }
      return Error{"Directory does not contain access.log: " + p.string()};
    }
    if (fs::is_regular_file(p, ec)) {
      LogSource s;
      s.path = p.parent_path().string();
      return s;
    }
  }
  return Error{"Log source not found: " + arg};
}

std::string list_log_sources(const std::vector<LogSource>& sources, const DiscoveryEnv& env) {
  if (sources.empty()) {
    return "No log sources found. Run awf with a command first to generate logs.\n"
           "\n"
           "Tip: Set AWF_LOGS_DIR environment variable to auto-discover logs from a custom directory.\n"
           "Example: export AWF_LOGS_DIR=/tmp/my-logs";
  }
  std::string out = "Available log sources:";
  for (const auto& s : sources) {
    if (s.kind == LogSource::Kind::running) {
      out += "\n  [running] " + s.path + " (live awf-proxy)";
      continue;
    }
    bool from_env = env.awf_logs_dir && s.path.rfind(*env.awf_logs_dir, 0) == 0;
    out += "\n  [" + std::string(from_env ? "AWF_LOGS_DIR" : "preserved") + "] " + s.path + " (" + s.date_str + ")";
  }
  return out;
}

std::vector<LogEntry> load_entries(const LogSource& source) {
  fs::path dir(source.path);
  if (auto jsonl = read_file(dir / "audit.jsonl")) {
    auto entries = parse_log_text(*jsonl, LogFormat::audit_jsonl);
    if (!entries.empty()) return entries;
  }
  if (auto text = read_file(dir / "access.log")) return parse_log_text(*text, LogFormat::access_log);
  return {};
}

std::optional<PolicyManifest> find_policy_manifest(const LogSource& source, const DiscoveryEnv& env) {
  std::vector<fs::path> candidates;
  if (env.awf_audit_dir) candidates.push_back(fs::path(*env.awf_audit_dir) / "policy-manifest.json");
  fs::path dir(source.path);
  candidates.push_back(dir / "policy-manifest.json");
  candidates.push_back(dir / ".." / "audit" / "policy-manifest.json");
  std::string renamed = source.path;
  if (auto pos = renamed.find("squid-logs-"); pos != std::string::npos) renamed.replace(pos, 11, "awf-audit-");
  candidates.push_back(fs::path(renamed) / "policy-manifest.json");

  for (const auto& c : candidates) {
    auto text = read_file(c);
    if (!text) continue;
    auto parsed = json::parse_value(*text);
    if (!parsed.ok()) continue;
    auto manifest = manifest_from_json(*parsed);
    if (manifest.ok()) return std::move(manifest).value();
  }
  return std::nullopt;
}

}  // namespace awf::logs
