// Builds and validates the Config from flags and awf's AWF_* environment.
#include "awf/entrypoint/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <fmt/format.h>

namespace awf::entrypoint {
namespace {

// awf (src/host-identity.ts) maps every id below 1000 to 1000: system
// accounts on the host must not own the agent's files.
constexpr uint32_t kFirstRegularId = 1000;

std::optional<std::string> env_value(const EnvMap& env, const std::string& key) {
  auto it = env.find(key);
  if (it == env.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

// Flag first, then each variable in order.
std::optional<std::string> pick(const std::optional<std::string>& flag, const EnvMap& env,
                                std::initializer_list<const char*> keys) {
  if (flag) return flag;
  for (const char* key : keys) {
    if (auto v = env_value(env, key)) return v;
  }
  return std::nullopt;
}

bool is_truthy(const std::optional<std::string>& v) { return v && (*v == "1" || *v == "true"); }

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// awf strips a leading /host from container paths: inside the chroot that
// prefix is the root.
std::string strip_host_prefix(std::string path) {
  if (path == "/host") return "/";
  if (path.rfind("/host/", 0) == 0) return path.substr(5);
  return path;
}

std::string normalize(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

Status require_absolute(const std::string& value, std::string_view what) {
  if (value.empty() || value[0] != '/') {
    return Error{fmt::format("Invalid {}: must be an absolute path, got \"{}\"", what, value)};
  }
  if (value.find('\n') != std::string::npos || value.find('\0') != std::string::npos) {
    return Error{fmt::format("Invalid {}: contains a newline or NUL byte", what)};
  }
  return ok_status();
}

std::string flag_or_env_name(bool from_flag, const char* flag, const char* env) {
  return from_flag ? flag : env;
}

}  // namespace

EnvMap environ_to_map(char** envp) {
  EnvMap env;
  for (char** p = envp; p && *p; ++p) {
    std::string_view entry(*p);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

Result<uint32_t> parse_id(std::string_view value, std::string_view what) {
  uint32_t id = 0;
  bool digits_only = !value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), id);
  if (digits_only && ec == std::errc::result_out_of_range) {
    return Error{fmt::format("Invalid {}: out of range (got \"{}\")", what, value)};
  }
  if (!digits_only || ec != std::errc() || end != value.data() + value.size()) {
    return Error{fmt::format("Invalid {}: must be numeric (got \"{}\")", what, value)};
  }
  if (id == 0) return Error{fmt::format("Invalid {}: cannot be 0 (root)", what)};
  // (uid_t)-1 means "unchanged" to setresuid(2): never a real identity.
  if (id == UINT32_MAX) return Error{fmt::format("Invalid {}: {} is reserved", what, value)};
  return id;
}

Result<ExtraMount> parse_mount_spec(std::string_view spec) {
  auto fail = [&](std::string_view reason) -> Result<ExtraMount> {
    return Error{fmt::format("Invalid volume mount: {}\nReason: {}", spec, reason)};
  };
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t colon = spec.find(':', start);
    parts.emplace_back(spec.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) {
    return fail("expected host:container or host:container:mode");
  }
  ExtraMount m;
  m.source = normalize(parts[0]);
  m.target = normalize(strip_host_prefix(parts[1]));
  if (parts[0].empty() || parts[0][0] != '/') return fail("host path must be absolute");
  if (parts[1].empty() || parts[1][0] != '/') return fail("container path must be absolute");
  if (m.target == "/") return fail("container path must not be the root");
  if (parts.size() == 3) {
    if (parts[2] == "ro") {
      m.writable = false;
    } else if (parts[2] != "rw") {
      return fail(fmt::format("mode must be ro or rw, got \"{}\"", parts[2]));
    }
  }
  if (!exists(m.source)) return fail(fmt::format("host path does not exist: {}", m.source));
  return m;
}

Result<std::vector<std::string>> parse_dns_servers(std::string_view list) {
  std::vector<std::string> servers;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find_first_of(", \t", start);
    if (end == std::string_view::npos) end = list.size();
    std::string item(list.substr(start, end - start));
    start = end + 1;
    if (item.empty()) continue;
    unsigned char buf[16];
    if (inet_pton(AF_INET, item.c_str(), buf) != 1 && inet_pton(AF_INET6, item.c_str(), buf) != 1) {
      return Error{fmt::format("Invalid DNS server \"{}\": expected an IPv4 or IPv6 address", item)};
    }
    servers.push_back(item);
  }
  return servers;
}

Result<Config> make_config(const RawOptions& raw, const EnvMap& env) {
  Config cfg;
  cfg.quiet = raw.quiet;
  if (raw.start_gate) {
    auto fd = parse_id(*raw.start_gate, "--start-gate");
    if (!fd || *fd < 3 || *fd > 65535) {
      return Error{fmt::format("Invalid --start-gate: \"{}\" is not a descriptor number above 2", *raw.start_gate)};
    }
    cfg.start_gate = static_cast<int>(*fd);
  }
  cfg.stdout_only = raw.stdout_only || is_truthy(env_value(env, "AWF_COMMAND_STDOUT_ONLY"));

  if (raw.command.empty()) {
    return Error{"No command given (usage: awf-entrypoint [options] -- command [args...])"};
  }
  cfg.command = raw.command;

  // Root: --chroot / --build-view; else AWF_CHROOT_ENABLED=true means awf's /host.
  if (raw.chroot && raw.build_view) return Error{"--chroot and --build-view are mutually exclusive"};
  if (raw.chroot) {
    cfg.mode = RootMode::kChroot;
    cfg.chroot_dir = normalize(*raw.chroot);
  } else if (!raw.build_view && is_truthy(env_value(env, "AWF_CHROOT_ENABLED"))) {
    cfg.mode = RootMode::kChroot;
    cfg.chroot_dir = "/host";
  }
  if (cfg.mode == RootMode::kChroot) {
    if (auto s = require_absolute(cfg.chroot_dir, "--chroot"); !s) return s.error();
    if (!is_directory(cfg.chroot_dir)) {
      return Error{fmt::format("Chroot directory {} does not exist or is not a directory", cfg.chroot_dir)};
    }
    if (cfg.chroot_dir == "/") return Error{"Invalid --chroot: must not be /"};
  }

  // Identity: AWF_CHROOT_IDENTITY_* win over AWF_USER_* as in entrypoint.sh.
  auto uid_text = pick(raw.uid, env, {"AWF_CHROOT_IDENTITY_UID", "AWF_USER_UID"});
  auto gid_text = pick(raw.gid, env, {"AWF_CHROOT_IDENTITY_GID", "AWF_USER_GID"});
  auto id_name = [&](bool flag, const char* f, const char* e1, const char* e2) {
    return flag ? std::string(f) : env_value(env, e1) ? std::string(e1) : std::string(e2);
  };
  if (uid_text) {
    auto id = parse_id(*uid_text, id_name(raw.uid.has_value(), "--uid", "AWF_CHROOT_IDENTITY_UID", "AWF_USER_UID"));
    if (!id) return id.error();
    cfg.uid = *id;
  }
  if (gid_text) {
    auto id = parse_id(*gid_text, id_name(raw.gid.has_value(), "--gid", "AWF_CHROOT_IDENTITY_GID", "AWF_USER_GID"));
    if (!id) return id.error();
    cfg.gid = *id;
  }
  if (!raw.exact_ids) {
    if (cfg.uid < kFirstRegularId) {
      cfg.notes.push_back(fmt::format("UID {} is below {}: using {} (pass --exact-ids to keep it)", cfg.uid,
                                      kFirstRegularId, kFirstRegularId));
      cfg.uid = kFirstRegularId;
    }
    if (cfg.gid < kFirstRegularId) {
      cfg.notes.push_back(fmt::format("GID {} is below {}: using {} (pass --exact-ids to keep it)", cfg.gid,
                                      kFirstRegularId, kFirstRegularId));
      cfg.gid = kFirstRegularId;
    }
  }

  // Home: the host user's home, which is also $HOME inside.
  if (auto home = pick(raw.home, env, {"AWF_CHROOT_IDENTITY_HOME", "HOME"})) {
    cfg.home = normalize(strip_host_prefix(*home));
    if (auto s = require_absolute(cfg.home, flag_or_env_name(raw.home.has_value(), "--home", "HOME")); !s) {
      return s.error();
    }
  }
  if (cfg.mode == RootMode::kBuildView && cfg.home.empty()) {
    return Error{"No home directory: pass --home or set HOME"};
  }
  if (cfg.mode == RootMode::kBuildView && cfg.home == "/") {
    return Error{"Invalid --home: / cannot be replaced by an empty home"};
  }
  if (auto user = env_value(env, "AWF_CHROOT_IDENTITY_USER")) cfg.identity_user = *user;

  if (auto wd = pick(raw.workdir, env, {"AWF_WORKDIR"})) {
    cfg.workdir = normalize(strip_host_prefix(*wd));
    if (auto s = require_absolute(cfg.workdir, flag_or_env_name(raw.workdir.has_value(), "--workdir", "AWF_WORKDIR"));
        !s) {
      return s.error();
    }
  }

  if (cfg.mode == RootMode::kBuildView) {
    // The workspace (read-write): --workspace, $GITHUB_WORKSPACE, else the
    // current directory as awf does; "/" would expose the whole host, skip it.
    std::optional<std::string> ws = pick(raw.workspace, env, {"GITHUB_WORKSPACE"});
    if (!ws) {
      char cwd[4096];
      if (getcwd(cwd, sizeof cwd)) ws = cwd;
    }
    if (ws && !ws->empty()) {
      cfg.workspace = normalize(*ws);
      if (auto s = require_absolute(cfg.workspace, "--workspace"); !s) return s.error();
      if (raw.workspace && !is_directory(cfg.workspace)) {
        return Error{fmt::format("Workspace {} does not exist or is not a directory", cfg.workspace)};
      }
      if (cfg.workspace == "/") {
        cfg.notes.push_back("Workspace is /: not mounting it (that would expose the whole host read-write)");
        cfg.workspace.clear();
      } else if (!is_directory(cfg.workspace)) {
        cfg.workspace.clear();
      }
    }
    if (raw.tmp) {
      cfg.tmp_source = normalize(*raw.tmp);
      if (auto s = require_absolute(cfg.tmp_source, "--tmp"); !s) return s.error();
      if (!is_directory(cfg.tmp_source)) {
        return Error{fmt::format("Invalid --tmp: {} does not exist or is not a directory", cfg.tmp_source)};
      }
    }
    // Runner tool cache (awf runner-tool-cache.ts): first existing candidate.
    for (const auto& candidate : {env_value(env, "RUNNER_TOOL_CACHE"),
                                  std::optional<std::string>(cfg.home + "/work/_tool")}) {
      if (candidate && candidate->size() > 1 && (*candidate)[0] == '/' && is_directory(*candidate)) {
        cfg.tool_cache = normalize(*candidate);
        break;
      }
    }
  } else if (raw.workspace || raw.tmp || !raw.etc_entries.empty()) {
    return Error{"--workspace, --tmp and --etc only apply when building the view (not with --chroot)"};
  }

  if (auto p = pick(raw.host_path, env, {"AWF_HOST_PATH"})) cfg.host_path = *p;
  if (auto p = pick(raw.github_path, env, {"GITHUB_PATH"})) cfg.github_path_file = *p;
  auto tc = [&](const std::optional<std::string>& flag, const char* key) {
    auto v = pick(flag, env, {key});
    return v ? *v : std::string();
  };
  cfg.toolchains.goroot = tc(raw.goroot, "AWF_GOROOT");
  cfg.toolchains.java_home = tc(raw.java_home, "AWF_JAVA_HOME");
  cfg.toolchains.cargo_home = tc(raw.cargo_home, "AWF_CARGO_HOME");
  cfg.toolchains.rustup_home = tc(raw.rustup_home, "AWF_RUSTUP_HOME");
  cfg.toolchains.dotnet_root = tc(raw.dotnet_root, "AWF_DOTNET_ROOT");
  cfg.toolchains.bun_install = tc(raw.bun_install, "AWF_BUN_INSTALL");

  if (auto dns = pick(raw.dns, env, {"AWF_DNS_SERVERS"})) {
    auto servers = parse_dns_servers(*dns);
    if (!servers) return servers.error();
    cfg.dns_servers = std::move(*servers);
  }

  for (const auto& spec : raw.mounts) {
    auto m = parse_mount_spec(spec);
    if (!m) return m.error();
    cfg.mounts.push_back(std::move(*m));
  }
  for (const auto& name : raw.etc_entries) {
    if (name.empty() || name[0] == '.' || name.find("..") != std::string::npos || name[0] == '/') {
      return Error{fmt::format("Invalid --etc \"{}\": expected a name relative to /etc, like java-17-openjdk", name)};
    }
    cfg.etc_entries.push_back(name);
  }
  cfg.exclude_env.insert(raw.exclude_env.begin(), raw.exclude_env.end());
  cfg.keep_env.insert(raw.keep_env.begin(), raw.keep_env.end());
  return cfg;
}

}  // namespace awf::entrypoint
