// The entrypoint's configuration: flags as given, awf's AWF_* environment
// contract as fallback (flags win), validated up front into a Config.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "awf/result.h"

namespace awf::entrypoint {

using EnvMap = std::map<std::string, std::string>;
EnvMap environ_to_map(char** envp);

// Where the command's root comes from.
enum class RootMode {
  kBuildView,  // build the selective-mount view ourselves (default)
  kChroot,     // chroot into a view someone else prepared (awf's /host)
};

// One `--mount host:container[:ro|rw]`.
struct ExtraMount {
  std::string source;  // path in the entrypoint's own view
  std::string target;  // path inside the command's root
  bool writable = true;  // Docker's default when no mode is given
};

// Toolchain homes awf copies into AWF_* variables so they survive the switch.
struct Toolchains {
  std::string goroot, java_home, cargo_home, rustup_home, dotnet_root, bun_install;
};

// Flags exactly as given; nullopt/empty = not given, the environment decides.
struct RawOptions {
  std::optional<std::string> chroot;
  bool build_view = false;
  std::optional<std::string> uid, gid, workdir, home, workspace, tmp, host_path, github_path, dns;
  std::optional<std::string> goroot, java_home, cargo_home, rustup_home, dotnet_root, bun_install;
  std::vector<std::string> mounts, etc_entries, exclude_env, keep_env;
  bool exact_ids = false;
  bool stdout_only = false;
  bool quiet = false;
  std::optional<std::string> start_gate;
  std::vector<std::string> command;
};

struct Config {
  RootMode mode = RootMode::kBuildView;
  std::string chroot_dir;         // kChroot only
  uid_t uid = 1000;
  gid_t gid = 1000;
  std::string workdir;            // empty: $HOME
  std::string home;               // the host user's home; also $HOME inside
  std::string identity_user;      // AWF_CHROOT_IDENTITY_USER: USER/LOGNAME override
  std::string workspace;          // kBuildView: read-write; empty: none
  std::string tmp_source = "/tmp";
  std::string tool_cache;         // kBuildView: read-only runner tool cache; empty: none
  std::string host_path;          // AWF_HOST_PATH; empty: rebuild from standard dirs
  std::string github_path_file;   // $GITHUB_PATH file
  Toolchains toolchains;
  std::vector<std::string> dns_servers;  // empty: leave the resolver view alone
  std::vector<ExtraMount> mounts;
  std::vector<std::string> etc_entries;  // extra /etc names to expose (kBuildView)
  std::set<std::string> exclude_env, keep_env;
  bool stdout_only = false;
  bool quiet = false;
  // --start-gate: a descriptor the launcher answers with 'G' when the
  // command may start (its proxy serves); EOF means it must not. -1: none.
  int start_gate = -1;
  std::vector<std::string> command;
  std::vector<std::string> notes;  // informational lines for the log (e.g. UID mapping)
};

// Parses a numeric user or group id named `what` ("AWF_USER_UID", "--uid").
// Messages follow awf: "Invalid AWF_USER_UID: must be numeric", "... cannot be 0 (root)".
Result<uint32_t> parse_id(std::string_view value, std::string_view what);

// `host:container[:ro|rw]`; the host path must exist. Errors read
// "Invalid volume mount: <spec>\nReason: <why>" as in awf.
Result<ExtraMount> parse_mount_spec(std::string_view spec);

// Comma- or space-separated IP addresses (never names: they end up verbatim
// in resolv.conf, so anything else could inject directives).
Result<std::vector<std::string>> parse_dns_servers(std::string_view list);

Result<Config> make_config(const RawOptions& raw, const EnvMap& env);

}  // namespace awf::entrypoint
