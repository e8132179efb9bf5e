// Log source discovery and the `awf logs` commands end to end (CLI11 parse +
// run) against temporary directories and the fixtures.
#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "awf/logs/commands.h"
#include "awf/logs/discovery.h"
#include "awf/logs/run_records.h"

namespace awf::logs {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "awf-logs-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Records a run the way awf does, so that discovery believes its directory.
void record(const fs::path& state, const fs::path& log_dir, const std::string& id) {
  RunRecord r;
  r.id = id;
  r.log_dir = log_dir.string();
  r.pid = ::getpid();
  ASSERT_TRUE(write_run_record(state.string(), r));
}

const std::string kLine =
    "1761074374.646 172.30.0.20:39748 api.github.com:443 140.82.114.22:443 1.1 CONNECT 200 TCP_TUNNEL:HIER_DIRECT "
    "api.github.com:443 \"-\"\n";

TEST(Discovery, RecordedDirectoriesNewestFirstAndOnlyWithAccessLog) {
  TempDir t;
  write(t.path() / "squid-logs-1700000000000" / "access.log", kLine);
  write(t.path() / "squid-logs-1800000000000" / "access.log", kLine);
  fs::create_directories(t.path() / "squid-logs-1900000000000");  // no access.log
  record(t.path() / "state", t.path() / "squid-logs-1700000000000", "1700000000000");
  record(t.path() / "state", t.path() / "squid-logs-1800000000000", "1800000000000");
  record(t.path() / "state", t.path() / "squid-logs-1900000000000", "1900000000000");
  DiscoveryEnv env;
  env.tmpdir = t.path().string();
  env.state_dirs = {(t.path() / "state").string()};
  auto sources = discover_log_sources(env);
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0].path, (t.path() / "squid-logs-1800000000000").string());
  EXPECT_EQ(sources[1].path, (t.path() / "squid-logs-1700000000000").string());
  EXPECT_EQ(*sources[0].timestamp_ms, 1800000000000.0);
}

TEST(Discovery, DirectoriesAwfDidNotRecordOrThatOthersCanWriteAreNotBelieved) {
  TempDir t;
  const fs::path state = t.path() / "state";
  // Forged by the sandboxed command in a shared /tmp: never recorded.
  write(t.path() / "squid-logs-999999999999999" / "access.log", kLine);
  // Recorded, but then made writable by others, or its log replaced by a link.
  write(t.path() / "squid-logs-1" / "access.log", kLine);
  fs::permissions(t.path() / "squid-logs-1", fs::perms::others_write, fs::perm_options::add);
  write(t.path() / "squid-logs-2" / "elsewhere.log", kLine);
  fs::create_symlink(t.path() / "squid-logs-2" / "elsewhere.log", t.path() / "squid-logs-2" / "access.log");
  write(t.path() / "squid-logs-3" / "access.log", kLine);
  record(state, t.path() / "squid-logs-1", "1");
  record(state, t.path() / "squid-logs-2", "2");
  record(state, t.path() / "squid-logs-3", "3");
  DiscoveryEnv env;
  env.tmpdir = t.path().string();
  env.state_dirs = {state.string()};
  auto sources = discover_log_sources(env);
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].path, (t.path() / "squid-logs-3").string());
  // A record directory others could write to is not believed at all.
  fs::permissions(state / "runs", fs::perms::others_write, fs::perm_options::add);
  EXPECT_TRUE(discover_log_sources(env).empty());
  std::vector<std::string> skipped;
  EXPECT_TRUE(read_run_records(env.state_dirs, &skipped).empty());
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("not trusted"), std::string::npos) << skipped[0];
}

TEST(Discovery, CheckLogDirNamesTheReason) {
  TempDir t;
  write(t.path() / "logs" / "access.log", kLine);
  EXPECT_TRUE(check_log_dir((t.path() / "logs").string(), ::geteuid()));
  auto other = check_log_dir((t.path() / "logs").string(), ::geteuid() + 1);
  ASSERT_FALSE(other);
  EXPECT_NE(other.message().find("not by the run's user"), std::string::npos) << other.message();
}

TEST(Discovery, AwfLogsDirDirectAndNestedLayouts) {
  TempDir t;
  write(t.path() / "nested" / "squid-logs" / "access.log", kLine);
  DiscoveryEnv env;
  env.tmpdir = (t.path() / "empty").string();
  env.awf_logs_dir = (t.path() / "nested").string();
  auto sources = discover_log_sources(env);
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].path, (t.path() / "nested" / "squid-logs").string());
  EXPECT_TRUE(sources[0].from_env);
  EXPECT_NE(list_log_sources(sources, env).find("  [AWF_LOGS_DIR] " + sources[0].path + " ("), std::string::npos);
}

TEST(Discovery, LiveProxyPidMakesASourceRunningAndFirst) {
  TempDir t;
  write(t.path() / "squid-logs-1900000000000" / "access.log", kLine);
  write(t.path() / "squid-logs-1700000000000" / "access.log", kLine);
  write(t.path() / "squid-logs-1700000000000" / kLivePidFile, std::to_string(::getpid()));
  record(t.path() / "state", t.path() / "squid-logs-1900000000000", "1900000000000");
  record(t.path() / "state", t.path() / "squid-logs-1700000000000", "1700000000000");
  DiscoveryEnv env;
  env.tmpdir = t.path().string();
  env.state_dirs = {(t.path() / "state").string()};
  auto sources = discover_log_sources(env);
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0].kind, LogSource::Kind::running);
  EXPECT_EQ(sources[0].path, (t.path() / "squid-logs-1700000000000").string());
  EXPECT_EQ(list_log_sources(sources, env).rfind("Available log sources:\n  [running] " + sources[0].path +
                                                 " (live awf-proxy)\n  [preserved] ",
                                             0),
            0u);
  auto running = validate_source("running", env);
  ASSERT_TRUE(running.ok());
  EXPECT_EQ(running->path, sources[0].path);
}

TEST(Discovery, SourceArgumentErrors) {
  TempDir t;
  fs::create_directories(t.path() / "nolog");
  write(t.path() / "withlog" / "access.log", kLine);
  DiscoveryEnv env;
  env.tmpdir = t.path().string();
  auto no_log = validate_source((t.path() / "nolog").string(), env);
  EXPECT_EQ(no_log.message(), "Directory does not contain access.log: " + (t.path() / "nolog").string());
  EXPECT_EQ(validate_source("/does/not/exist", env).message(), "Log source not found: /does/not/exist");
  auto file = validate_source((t.path() / "withlog" / "access.log").string(), env);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->path, (t.path() / "withlog").string());
  EXPECT_FALSE(validate_source("running", env).ok());
}

TEST(Discovery, NothingFoundGivesAwfHint) {
  DiscoveryEnv env;
  EXPECT_EQ(list_log_sources({}, env),
            "No log sources found. Run awf with a command first to generate logs.\n\n"
            "Tip: Set AWF_LOGS_DIR environment variable to auto-discover logs from a custom directory.\n"
            "Example: export AWF_LOGS_DIR=/tmp/my-logs");
}

TEST(Discovery, AuditJsonlIsPreferredWhenItHasEntries) {
  LogSource s;
  s.path = std::string(AWF_LOGS_FIXTURES) + "/run2";
  auto entries = load_entries(s);
  ASSERT_EQ(entries.size(), 3u) << "the broken JSON line is dropped";
  EXPECT_EQ(entries[1].domain, "evil.com");
  TempDir t;
  write(t.path() / "access.log", kLine);
  write(t.path() / "audit.jsonl", "not json\n");
  s.path = t.path().string();
  ASSERT_EQ(load_entries(s).size(), 1u) << "an unusable audit.jsonl falls back to access.log";
}

TEST(Discovery, ManifestFoundNextToLogsOrInTheRenamedAuditDir) {
  TempDir t;
  write(t.path() / "squid-logs-1" / "access.log", kLine);
  write(t.path() / "awf-audit-1" / "policy-manifest.json", read(std::string(AWF_LOGS_FIXTURES) + "/run1/policy-manifest.json"));
  LogSource s;
  s.path = (t.path() / "squid-logs-1").string();
  EXPECT_TRUE(find_policy_manifest(s, {}));
  write(t.path() / "squid-logs-1" / "policy-manifest.json", "{broken");
  EXPECT_TRUE(find_policy_manifest(s, {})) << "an unreadable candidate is skipped";
  LogSource other;
  other.path = (t.path() / "elsewhere").string();
  EXPECT_FALSE(find_policy_manifest(other, {}));
  DiscoveryEnv env;
  env.awf_audit_dir = (t.path() / "awf-audit-1").string();
  EXPECT_TRUE(find_policy_manifest(other, env)) << "$AWF_AUDIT_DIR is searched first";
}

struct Run {
  int code = 0;
  std::string out;
  std::string err;
};

Run run_logs(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
  CLI::App app{"awf"};
  auto cmd = register_logs_commands(app);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  Run r;
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    r.code = 1;
    r.err = e.what();
    return r;
  }
  std::ostringstream out, err;
  r.code = cmd->run(out, err, env, false);
  r.out = out.str();
  r.err = err.str();
  return r;
}

const std::string kRun1 = std::string(AWF_LOGS_FIXTURES) + "/run1";

TEST(LogsCommand, RawPrintsLinesVerbatim) {
  auto r = run_logs({"logs", "--format", "raw", "--source", kRun1});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, read(kRun1 + "/access.log"));
  EXPECT_EQ(r.err, "");
}

TEST(LogsCommand, PrettyIsTheDefault) {
  auto r = run_logs({"logs", "--source", kRun1});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "[2025-10-21 19:19:34.646] CONNECT api.github.com \u2192 200 (ALLOWED)");
}

TEST(LogsCommand, JsonIsOneObjectPerLine) {
  auto r = run_logs({"logs", "--format", "json", "--source", kRun1});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 8);
  EXPECT_EQ(r.out.substr(0, 30), "{\"timestamp\":1761074374.646,\"c");
}

TEST(LogsCommand, InvalidFormatIsRefused) {
  auto r = run_logs({"logs", "--format", "xml", "--source", kRun1});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "[ERROR] Invalid format: xml. Must be one of: raw, pretty, json\n");
}

TEST(LogsCommand, WithPidNeedsFollow) {
  auto r = run_logs({"logs", "--with-pid", "--format", "raw", "--source", kRun1});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.err, "[WARN] --with-pid only works with real-time streaming (-f). PID tracking disabled.\n");
}

TEST(LogsCommand, NoSourcesIsAnError) {
  TempDir t;
  const std::map<std::string, std::string> env = {{"TMPDIR", t.path().string()},
                                                  {"AWF_STATE_DIR", (t.path() / "state").string()}};
  auto r = run_logs({"logs"}, env);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "[ERROR] No log sources found. Run awf with a command first to generate logs.\n");
  auto bad = run_logs({"logs", "--source", "/nope"}, env);
  EXPECT_EQ(bad.err, "[ERROR] Invalid log source: Log source not found: /nope\n");
}

TEST(LogsCommand, AutoDiscoveryAnnouncesTheSourceOnStderr) {
  TempDir t;
  write(t.path() / "squid-logs-1761074374646" / "access.log", kLine);
  record(t.path() / "state", t.path() / "squid-logs-1761074374646", "1761074374646");
  const std::map<std::string, std::string> env = {{"TMPDIR", t.path().string()},
                                                  {"AWF_STATE_DIR", (t.path() / "state").string()}};
  auto r = run_logs({"logs", "stats"}, env);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.err.substr(0, 37), "[INFO] Using preserved logs from: " + t.path().string().substr(0, 3));
  EXPECT_NE(r.err.find("[INFO] Log timestamp: "), std::string::npos);
  auto md = run_logs({"logs", "summary"}, env);
  EXPECT_EQ(md.err, "") << "summary's markdown mode stays quiet so it can go to $GITHUB_STEP_SUMMARY";
  EXPECT_EQ(md.out.substr(0, 10), "<details>\n");
}

TEST(LogsCommand, ListShowsSources) {
  TempDir t;
  write(t.path() / "squid-logs-1761074374646" / "access.log", kLine);
  record(t.path() / "state", t.path() / "squid-logs-1761074374646", "1761074374646");
  auto r = run_logs({"logs", "--list"},
                    {{"TMPDIR", t.path().string()}, {"AWF_STATE_DIR", (t.path() / "state").string()}});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("Available log sources:\n  [preserved] " + (t.path() / "squid-logs-1761074374646").string() + " (",
                       0),
            0u);
}

TEST(LogsCommand, StatsAndSummaryIncludePolicyRulesWhenAManifestIsFound) {
  auto stats = run_logs({"logs", "stats", "--format", "json", "--source", kRun1});
  EXPECT_EQ(stats.code, 0);
  EXPECT_NE(stats.out.find("\"byRule\": [\n    {\n      \"ruleId\": \"deny-unsafe-ports\""), std::string::npos)
      << stats.out;
  auto summary = run_logs({"logs", "summary", "--source", kRun1});
  EXPECT_NE(summary.out.find("<summary>Policy Rules</summary>"), std::string::npos);
  EXPECT_EQ(summary.out.back(), '\n');
  auto bad = run_logs({"logs", "summary", "--format", "raw", "--source", kRun1});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "[ERROR] Invalid format: raw. Must be one of: json, markdown, pretty\n");
}

TEST(LogsCommand, RuleHitsCountRequestsNotRefusedLookups) {
  TempDir t;
  fs::copy_file(kRun1 + "/policy-manifest.json", t.path() / "policy-manifest.json");
  write(t.path() / "access.log",
        "1.1 127.0.0.1:40000 denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE dns://denied.test/A \"-\"\n"
        "1.2 127.0.0.1:40000 denied.test -:- - DNS 403 TCP_DENIED:HIER_NONE dns://denied.test/AAAA \"-\"\n");
  auto stats = run_logs({"logs", "stats", "--format", "json", "--source", t.path().string()});
  EXPECT_EQ(stats.code, 0) << stats.err;
  EXPECT_NE(stats.out.find("\"ruleId\": \"deny-default\",\n      \"description\": \"Deny all traffic not matching any "
                           "allow rule (default deny)\",\n      \"action\": \"deny\",\n      \"hits\": 0\n"),
            std::string::npos)
      << stats.out;
  EXPECT_NE(stats.out.find("\"lookups\": 2,"), std::string::npos) << stats.out;
}

TEST(LogsCommand, AuditNeedsAManifestAndEntries) {
  TempDir t;
  write(t.path() / "access.log", kLine);
  auto no_manifest = run_logs({"logs", "audit", "--source", t.path().string()});
  EXPECT_EQ(no_manifest.code, 1);
  EXPECT_EQ(no_manifest.err,
            "[ERROR] No policy-manifest.json found. The audit command requires a policy manifest.\n"
            "Ensure you are using a version of awf that generates audit artifacts (--audit-dir).\n");
  write(t.path() / "access.log", "");
  auto empty = run_logs({"logs", "audit", "--source", t.path().string()});
  EXPECT_EQ(empty.err, "[ERROR] No log entries found.\n");
}

TEST(LogsCommand, AuditJsonWithFilters) {
  auto r = run_logs({"logs", "audit", "--format", "json", "--decision", "denied", "--rule", "deny-default", "--source",
                     kRun1});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2);
  EXPECT_NE(r.out.find("\"domain\":\"awmg-mcpg\""), std::string::npos);
  auto bad = run_logs({"logs", "audit", "--decision", "maybe", "--source", kRun1});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "[ERROR] Invalid decision filter: maybe. Must be \"allowed\" or \"denied\".\n");
}

TEST(LogsCommand, FollowPrintsAppendedLines) {
  TempDir t;
  write(t.path() / "access.log", kLine);
  CLI::App app{"awf"};
  auto cmd = register_logs_commands(app);
  std::vector<std::string> args = {t.path().string(), "--source", "raw", "--format", "-f", "logs"};
  app.parse(args);
  std::atomic<bool> stop{false};
  cmd->stop_flag = &stop;
  std::ostringstream out, err;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::ofstream(t.path() / "access.log", std::ios::app) << "second line\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    stop = true;
  });
  EXPECT_EQ(cmd->run(out, err, {}, false), 0);
  writer.join();
  EXPECT_EQ(out.str(), kLine + "second line\n");
}

TEST(LogsCommand, NotSelectedWithoutTheSubcommand) {
  CLI::App app{"awf"};
  auto cmd = register_logs_commands(app);
  std::vector<std::string> none;
  app.parse(none);
  EXPECT_FALSE(cmd->selected());
}

}  // namespace
}  // namespace awf::logs
