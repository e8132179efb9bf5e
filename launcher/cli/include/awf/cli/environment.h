// The agent's environment, computed as a pure function of the host
// environment and awf's env flags: `-e/--env`, `--env-all`,
// `--env-file`, `--exclude-env`, the exclusion set and awf's precedence.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "awf/api/agent_environment.h"
#include "awf/result.h"

namespace awf::cli {

using Environment = std::map<std::string, std::string>;
using EnvPairs = std::vector<std::pair<std::string, std::string>>;

// `environ`-style array to a map (the first of duplicate names wins).
Environment environment_from(char** envp);

// Names that never reach the agent from the host: PATH, PWD, sudo state, the
// proxy variables, awf's own switches, and awf_api's withheld_variables()
// (the LLM and GitHub credentials, provider base URLs and the Actions runtime
// tokens), whether or not the API proxy runs.
const std::set<std::string>& excluded_variables();

// HTTP_PROXY, HTTPS_PROXY, http_proxy, https_proxy, ALL_PROXY, all_proxy,
// FTP_PROXY, ftp_proxy, NO_PROXY, no_proxy: excluded from the host, but `-e`
// may still set them.
bool is_proxy_variable(std::string_view name);

// Host variables forwarded even without --env-all when set and not excluded.
const std::vector<std::string>& passthrough_variables();

// `-e KEY=VALUE`, split as awf does (`^([^=]+)=(.*)$`). Error text:
// `Invalid environment variable format: X (expected KEY=VALUE)`.
Result<std::pair<std::string, std::string>> parse_env_assignment(std::string_view text);

// --env-file contents: `KEY=VALUE` lines whose key matches
// `^[A-Za-z_][A-Za-z0-9_]*$`; blank lines, `#` comments and malformed lines
// are skipped. The value is everything after the first `=`, unquoted as is.
EnvPairs parse_env_file(std::string_view text);

// Reads and parses a --env-file. Missing file: `--env-file: file not found: X`.
Result<EnvPairs> read_env_file(const std::string& path);

struct EnvSettings {
  EnvPairs assignments;             // -e, in command-line order
  bool env_all = false;             // --env-all
  EnvPairs env_file;                // --env-file, parsed
  std::vector<std::string> exclude; // --exclude-env
  bool tty = false;                 // --tty: TERM is set by awf, not forwarded
};

struct AgentEnvironment {
  Environment vars;
  std::vector<std::string> warnings;  // text for `[WARN] ` lines
};

// Values above this size are not copied by --env-all (each would risk
// E2BIG at exec); the total is warned about above kEnvTotalWarnBytes.
inline constexpr std::size_t kEnvValueMaxBytes = 64 * 1024;
inline constexpr std::size_t kEnvTotalWarnBytes = 1536 * 1024;

// awf's order, each step either filling only missing names or overwriting:
//   1. `core`: what the runtime always sets (HTTP_PROXY, HOME, PATH, NO_PROXY, ...)
//   2. forwarded host variables (passthrough_variables(), TERM unless tty,
//      GH_HOST from a non-github.com GITHUB_SERVER_URL)   -- no overwrite
//   3. --env-all: every other host variable                  -- no overwrite
//   4. --env-file entries                                     -- no overwrite
//   5. -e                                                     -- overwrite
//   6. `late`: runtime switches (AWF_DNS_SERVERS, ...)        -- overwrite
//   7. `api`: the API proxy's base URLs and placeholders       -- overwrite
//      (empty when it is off), and its NO_PROXY entries appended to both
//      NO_PROXY and no_proxy where missing
// Steps 2-5 skip excluded names (excluded_variables() + --exclude-env),
// except that -e may set proxy variables; setting only one of NO_PROXY /
// no_proxy with -e copies it to the other. A withheld credential given with
// -e is dropped with a warning: step 7 is the only way a value gets there.
AgentEnvironment build_agent_environment(const EnvSettings& settings, const Environment& host,
                                         const Environment& core, const Environment& late,
                                         const api::AgentApiEnvironment& api = {});

// ---- What the runtime always sets (awf's core and late values) ----

struct CoreInputs {
  std::string proxy_url;                  // the forward listener, e.g. "http://127.0.0.1:3128"
  std::vector<std::string> no_proxy_extra;  // appended to the default NO_PROXY list
  std::string home;                       // host_home()
  std::string workdir;                    // --container-workdir, else home
  std::vector<std::string> dns_servers;    // the agent's resolvers (native runtime: the proxy's
                                          // DNS listener, 127.0.0.1; not the upstream servers)
  int uid = 0;                            // the invoking user (SUDO_UID when run through sudo)
  int gid = 0;
  bool tty = false;
  bool host_access = false;
  std::string allow_host_ports;           // flag text, may be empty
  std::vector<std::string> github_path_entries;  // lines of $GITHUB_PATH, see read_github_path()
};

// awf maps every id below 1000 (root included) to 1000 for the agent user.
inline int agent_id(int id) { return id < 1000 ? 1000 : id; }

// The real user's home: for root under sudo, SUDO_USER's passwd home (asked
// through `home_of`); else $HOME; else /root.
std::string host_home(const Environment& host, bool is_root,
                      const std::function<std::optional<std::string>(const std::string& user)>& home_of);

// Lines of the $GITHUB_PATH file (empty when unset or unreadable).
std::vector<std::string> read_github_path(const Environment& host);

// The values awf sets before user input: both spellings of HTTP(S)_PROXY
// (awf leaves lowercase http_proxy unset; we set both, since many tools read
// only the lowercase one),
// NO_PROXY/no_proxy (`localhost,127.0.0.1,::1,0.0.0.0` + extras), HOME, PATH,
// AWF_HOST_PATH ($GITHUB_PATH entries first, deduplicated), AWF_GOROOT and
// friends copied from the host, NO_COLOR=1 (or FORCE_COLOR/TERM/COLUMNS with tty).
Environment core_environment(const CoreInputs& in, const Environment& host);

// The switches that win over everything: AWF_DNS_SERVERS, AWF_CHROOT_ENABLED,
// AWF_WORKDIR, AWF_USER_UID/GID (agent_id()), AWF_ENABLE_HOST_ACCESS and
// AWF_ALLOW_HOST_PORTS when host access is on.
Environment late_environment(const CoreInputs& in);

}  // namespace awf::cli
