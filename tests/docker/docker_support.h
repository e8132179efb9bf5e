// Shared pieces of the docker/ tests: the repository and build paths, running
// programs with a deadline, a reader for the Dockerfiles' instructions, and
// the rule for missing facilities (skip here, fail when CI=true).
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "awf/testing/facility.h"

namespace awf::docker_test {

namespace fs = std::filesystem;

fs::path source_dir();  // the repository (the images' build context)
fs::path build_dir();   // CMAKE_BINARY_DIR
fs::path bin_dir();     // AWF_BIN_DIR
std::string cmake_command();

std::string read_text(const fs::path& path);
void write_text(const fs::path& path, const std::string& text);
bool contains(const std::string& haystack, const std::string& needle);
// The absolute path of `name` on PATH, or nothing.
std::optional<fs::path> find_program(const std::string& name);

// A directory under /tmp removed at destruction, unless something is still
// mounted below it (then it is left alone: never delete through a mount).
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "awf-docker-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct Outcome {
  int exit_code = -1;  // 128+N when killed by signal N
  bool timed_out = false;
  std::string out, err;
  std::string describe() const;  // exit code and both streams, for failure messages
};

struct RunOptions {
  std::map<std::string, std::string> env;  // added to (or replacing in) our environment
  bool clear_env = false;                  // start from an empty environment instead
  int timeout_seconds = 60;
};

// Default options with another deadline (designated initializers would trip
// GCC 12's -Wmissing-field-initializers, bug 96868).
RunOptions within_seconds(int seconds);

// Runs argv[0] (searched in PATH) to completion or the deadline (SIGKILL).
Outcome run(const std::vector<std::string>& argv, const RunOptions& options = {});

// A program left running: stop() signals it and collects its outcome.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const RunOptions& options = {});
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  pid_t pid() const { return pid_; }
  bool alive();
  std::string err_so_far() const;
  Outcome stop(int signal, int timeout_seconds = 15);

 private:
  pid_t pid_ = -1;
  TempDir files_{"awf-docker-bg"};
  std::optional<Outcome> done_;
};

// One Dockerfile instruction, continuation lines joined, comments dropped.
struct Instruction {
  std::string keyword;  // upper case: FROM, RUN, COPY...
  std::string args;     // the rest, as one line
  int line = 0;         // where it starts
  int stage = -1;       // index of the FROM it belongs to
};

struct Dockerfile {
  fs::path path;
  std::vector<Instruction> instructions;
  std::vector<std::string> stage_bases;  // FROM image per stage
  std::vector<std::string> stage_names;  // "AS name" per stage, "" if none
  std::map<std::string, std::string> global_args;  // ARG NAME=default before the first FROM
  int last_stage() const { return static_cast<int>(stage_bases.size()) - 1; }
  std::vector<Instruction> in_stage(int stage, const std::string& keyword) const;
};

Dockerfile parse_dockerfile(const fs::path& path);
// Whitespace-separated words (the Dockerfiles use no quoting in RUN/COPY).
std::vector<std::string> split_words(const std::string& text);
// The exec form ["a", "b"] of ENTRYPOINT/CMD/HEALTHCHECK CMD; nothing if not that form.
std::optional<std::vector<std::string>> exec_form(const std::string& args);
// The values following `flag` (as `flag X` or `flag=X`) in a list of words.
std::vector<std::string> values_of(const std::vector<std::string>& words, const std::string& flag);

fs::path proxy_dockerfile();
fs::path agent_dockerfile();
fs::path compose_file();

// The ENTRYPOINT + CMD of the proxy image, and the HEALTHCHECK command.
std::vector<std::string> proxy_image_command();
std::vector<std::string> proxy_health_check_command();

// `cmake --install` of a build (default: this one) into `prefix`, all
// components or one.
Outcome install_tree(const fs::path& prefix, const std::string& component = "", const fs::path& build = build_dir());
// The one --component a Dockerfile's RUN lines install.
std::string component_of(const Dockerfile& df);
// Where a path of the final image comes from in an install tree at `prefix`,
// following the image's `COPY --from=build /install/X DEST` lines. Empty when
// no COPY provides it.
fs::path install_source_of(const Dockerfile& df, const fs::path& prefix, const std::string& image_path);
// `${VAR:-default}` and `${VAR}` as compose interpolates them.
std::string interpolate(const std::string& text, const std::map<std::string, std::string>& env);
// The proxy image's paths in argv mapped: binary and config to the install
// tree at `prefix`, the /var/log/squid volume to `logs`.
std::vector<std::string> map_proxy_image_paths(std::vector<std::string> argv, const fs::path& prefix,
                                               const fs::path& logs);

// unshare --net, ip and setpriv work here.
bool can_use_network_namespaces();
// argv run as UID/GID 13 (the image's USER) in a new network namespace with
// loopback up, so the image's fixed port 3128 cannot clash with anything.
std::vector<std::string> as_proxy_user_in_new_netns(const std::vector<std::string>& argv);
// Waits for awf-proxy's "ready" line; false if it exited or the time ran out.
bool wait_until_ready(Background& proxy, int timeout_seconds);

}  // namespace awf::docker_test
