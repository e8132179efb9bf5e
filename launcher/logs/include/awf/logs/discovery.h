// Where `awf logs` finds logs: `--source <dir|file>`, `$AWF_LOGS_DIR`
// (`access.log` directly or under `squid-logs/`), and the runs awf recorded
// (run_records.h: live ones, then preserved `$TMPDIR/squid-logs-<epoch-ms>/`
// directories, newest first). awf scans $TMPDIR instead; a directory there
// that awf did not record is not believed, since the sandboxed command may
// have made it.
//
// awf's "running" source is the live awf-squid container. The native runtime
// has no container; its equivalent is a log directory that a live awf-proxy
// is still writing: the runtime leaves `awf-proxy.pid` in the log directory
// from the moment the proxy is ready until it has stopped, and a directory
// whose pid file names a live process is listed as `[running]` and
// preferred, as awf prefers the container. Without --proxy-logs-dir that
// directory is inside awf's work directory, which only awf's user (root for
// sudo awf) can enter: others find the run but cannot read it until its logs
// are preserved.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "awf/logs/entry.h"
#include "awf/logs/manifest.h"
#include "awf/result.h"

namespace awf::logs {

struct DiscoveryEnv {
  std::optional<std::string> awf_logs_dir;   // $AWF_LOGS_DIR
  std::optional<std::string> awf_audit_dir;  // $AWF_AUDIT_DIR
  std::string tmpdir = "/tmp";               // $TMPDIR without a trailing slash, else /tmp
  std::vector<std::string> state_dirs;       // where awf's run records are (run_records.h)
};
DiscoveryEnv discovery_env(const std::map<std::string, std::string>& env);

// The file a live proxy's pid is kept in, inside its log directory.
inline constexpr const char* kLivePidFile = "awf-proxy.pid";

// True while `dir` holds kLivePidFile naming a process that still exists.
bool has_live_proxy(const std::string& dir);

struct LogSource {
  enum class Kind { running, preserved };
  Kind kind = Kind::preserved;
  std::string path;                  // the directory holding access.log
  std::optional<double> timestamp_ms;
  std::string date_str;              // en-US locale form: "10/21/2025, 7:19:34 PM"
  bool from_env = false;             // found through $AWF_LOGS_DIR
};

// Running sources first, then preserved ones newest first.
std::vector<LogSource> discover_log_sources(const DiscoveryEnv& env);

// `--source`: "running", a directory with access.log, or a file (its
// directory is used). Errors without the `Invalid log source: ` prefix:
// `Directory does not contain access.log: X`, `Log source not found: X`.
Result<LogSource> validate_source(const std::string& arg, const DiscoveryEnv& env);

// `awf logs --list` text (no trailing newline).
std::string list_log_sources(const std::vector<LogSource>& sources, const DiscoveryEnv& env);

// Entries of a source: audit.jsonl when it yields at least one entry, else
// access.log; none when neither exists.
std::vector<LogEntry> load_entries(const LogSource& source);

// policy-manifest.json for a source: `$AWF_AUDIT_DIR/`, `<src>/`,
// `<src>/../audit/`, then `squid-logs-X` -> `awf-audit-X`. nullopt if none
// exists or none parses.
std::optional<PolicyManifest> find_policy_manifest(const LogSource& source, const DiscoveryEnv& env);

// `new Date(ms).toLocaleString()` in en-US, local time zone.
std::string locale_date_string(double epoch_ms);

}  // namespace awf::logs
