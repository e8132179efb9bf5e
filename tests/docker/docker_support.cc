// Process running, temporary directories and Dockerfile reading for the
// docker/ tests.
#include "docker_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <regex>
#include <thread>

extern char** environ;

namespace awf::docker_test {

fs::path source_dir() { return AWF_SOURCE_DIR; }
fs::path build_dir() { return AWF_BUILD_DIR; }
fs::path bin_dir() { return AWF_BIN_DIR; }
std::string cmake_command() { return AWF_CMAKE_COMMAND; }


std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::optional<fs::path> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream s(dirs);
  for (std::string dir; std::getline(s, dir, ':');) {
    fs::path candidate = fs::path(dir) / name;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

namespace {

bool has_mount_below(const fs::path& dir) {
  // /proc/self/mountinfo field 5 is the mount point (octal-escaped spaces
  // cannot occur in our mkdtemp names).
  std::istringstream lines(read_text("/proc/self/mountinfo"));
  const std::string prefix = dir.string() + "/";
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string f1, f2, f3, f4, mount_point;
    fields >> f1 >> f2 >> f3 >> f4 >> mount_point;
    if (mount_point == dir.string() || mount_point.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> make_env(const RunOptions& options) {
  std::map<std::string, std::string> env;
  if (!options.clear_env) {
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  for (const auto& [k, v] : options.env) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// Forks and execs with stdout/stderr going to files (no pipe to drain, so a
// chatty child cannot block) and stdin from /dev/null.
pid_t spawn(const std::vector<std::string>& argv, const RunOptions& options, const fs::path& out_file,
            const fs::path& err_file) {
  std::vector<std::string> args = argv;
  std::vector<std::string> env = make_env(options);
  std::string program = argv.at(0);
  if (program.find('/') == std::string::npos) {
    if (auto found = find_program(program)) program = found->string();
  }
  auto c_args = c_strings(args);
  auto c_env = c_strings(env);
  pid_t pid = fork();
  if (pid != 0) return pid;
  int in = open("/dev/null", O_RDONLY);
  int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int err = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (in < 0 || out < 0 || err < 0) _exit(120);
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  // A fresh process group, so a timeout kills helpers the child started too.
  setpgid(0, 0);
  execve(program.c_str(), c_args.data(), c_env.data());
  dprintf(2, "exec %s: %s\n", program.c_str(), std::strerror(errno));
  _exit(127);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Waits for pid up to the deadline; SIGKILLs its process group after it.
Outcome wait_for(pid_t pid, int timeout_seconds) {
  Outcome o;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return o;
    if (std::chrono::steady_clock::now() > deadline) {
      o.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  o.exit_code = decode_status(status);
  return o;
}

}  // namespace

TempDir::TempDir(const std::string& tag) {
  std::string pattern = "/tmp/" + tag + ".XXXXXX";
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  path_ = pattern;
}

TempDir::~TempDir() {
  if (has_mount_below(path_)) {
    std::fprintf(stderr, "leaving %s in place: something is mounted below it\n", path_.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string Outcome::describe() const {
  std::ostringstream s;
  s << (timed_out ? "timed out, " : "") << "exit code " << exit_code << "\n--- stdout ---\n"
    << out << "\n--- stderr ---\n" << err;
  return s.str();
}

RunOptions within_seconds(int seconds) {
  RunOptions o;
  o.timeout_seconds = seconds;
  return o;
}

Outcome run(const std::vector<std::string>& argv, const RunOptions& options) {
  TempDir files("awf-docker-run");
  pid_t pid = spawn(argv, options, files.path() / "out", files.path() / "err");
  if (pid < 0) return {};
  Outcome o = wait_for(pid, options.timeout_seconds);
  o.out = read_text(files.path() / "out");
  o.err = read_text(files.path() / "err");
  return o;
}

Background::Background(const std::vector<std::string>& argv, const RunOptions& options) {
  pid_ = spawn(argv, options, files_.path() / "out", files_.path() / "err");
}

Background::~Background() {
  if (pid_ > 0 && !done_) stop(SIGKILL, 5);
}

bool Background::alive() {
  if (done_ || pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    Outcome o;
    o.exit_code = decode_status(status);
    o.out = read_text(files_.path() / "out");
    o.err = read_text(files_.path() / "err");
    done_ = o;
    return false;
  }
  return true;
}

std::string Background::err_so_far() const { return read_text(files_.path() / "err"); }

Outcome Background::stop(int signal, int timeout_seconds) {
  if (!done_ && pid_ > 0 && alive()) {
    kill(pid_, signal);
    Outcome o = wait_for(pid_, timeout_seconds);
    o.out = read_text(files_.path() / "out");
    o.err = read_text(files_.path() / "err");
    done_ = o;
  }
  return done_.value_or(Outcome{});
}

std::vector<Instruction> Dockerfile::in_stage(int stage, const std::string& keyword) const {
  std::vector<Instruction> out;
  for (const auto& i : instructions) {
    if (i.stage == stage && i.keyword == keyword) out.push_back(i);
  }
  return out;
}

Dockerfile parse_dockerfile(const fs::path& path) {
  Dockerfile df;
  df.path = path;
  std::istringstream lines(read_text(path));
  std::string pending;
  int start = 0, number = 0;
  auto finish = [&] {
    auto first = pending.find_first_not_of(" \t");
    if (first == std::string::npos) return;
    std::string text = pending.substr(first);
    auto space = text.find_first_of(" \t");
    Instruction i;
    i.keyword = text.substr(0, space);
    for (auto& c : i.keyword) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (space != std::string::npos) i.args = text.substr(text.find_first_not_of(" \t", space));
    i.line = start;
    if (i.keyword == "ARG" && df.stage_bases.empty()) {
      // A global ARG (before the first FROM): its default may appear in FROM.
      auto eq = i.args.find('=');
      if (eq != std::string::npos) df.global_args[i.args.substr(0, eq)] = i.args.substr(eq + 1);
    }
    if (i.keyword == "FROM") {
      auto words = split_words(i.args);
      // FROM ${NAME} and FROM x-${NAME}: substituted with the ARG's default,
      // as a build without --build-arg sees it.
      if (!words.empty()) {
        for (const auto& [name, value] : df.global_args) {
          for (std::string ref : {"${" + name + "}", "$" + name}) {
            for (auto at = words[0].find(ref); at != std::string::npos; at = words[0].find(ref)) {
              words[0].replace(at, ref.size(), value);
            }
          }
        }
      }
      df.stage_bases.push_back(words.empty() ? "" : words[0]);
      df.stage_names.push_back(words.size() >= 3 ? words[2] : "");
    }
    i.stage = df.last_stage();
    df.instructions.push_back(i);
  };
  for (std::string line; std::getline(lines, line);) {
    ++number;
    auto first = line.find_first_not_of(" \t");
    // Comment lines end nothing and add nothing, even inside a continuation.
    if (first == std::string::npos || line[first] == '#') continue;
    if (pending.empty()) start = number;
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.pop_back();
    if (!line.empty() && line.back() == '\\') {
      line.pop_back();
      pending += line + " ";
      continue;
    }
    pending += line;
    finish();
    pending.clear();
  }
  if (!pending.empty()) finish();
  return df;
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream s(text);
  std::vector<std::string> out;
  for (std::string w; s >> w;) out.push_back(w);
  return out;
}

std::optional<std::vector<std::string>> exec_form(const std::string& args) {
  auto open = args.find_first_not_of(" \t");
  if (open == std::string::npos || args[open] != '[') return std::nullopt;
  std::vector<std::string> out;
  size_t i = open + 1;
  for (;;) {
    while (i < args.size() && (args[i] == ' ' || args[i] == ',' || args[i] == '\t')) ++i;
    if (i >= args.size()) return std::nullopt;
    if (args[i] == ']') return out;
    if (args[i] != '"') return std::nullopt;
    std::string word;
    for (++i; i < args.size() && args[i] != '"'; ++i) {
      if (args[i] == '\\' && i + 1 < args.size()) ++i;
      word += args[i];
    }
    if (i >= args.size()) return std::nullopt;
    ++i;
    out.push_back(word);
  }
}

std::vector<std::string> values_of(const std::vector<std::string>& words, const std::string& flag) {
  std::vector<std::string> out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == flag && i + 1 < words.size()) out.push_back(words[i + 1]);
    else if (words[i].rfind(flag + "=", 0) == 0) out.push_back(words[i].substr(flag.size() + 1));
  }
  return out;
}

fs::path proxy_dockerfile() { return source_dir() / "docker" / "proxy.Dockerfile"; }
fs::path agent_dockerfile() { return source_dir() / "docker" / "agent.Dockerfile"; }
fs::path compose_file() { return source_dir() / "docker" / "compose.yaml"; }

std::vector<std::string> proxy_image_command() {
  Dockerfile df = parse_dockerfile(proxy_dockerfile());
  std::vector<std::string> argv;
  for (const char* keyword : {"ENTRYPOINT", "CMD"}) {
    auto found = df.in_stage(df.last_stage(), keyword);
    if (found.empty()) continue;
    auto words = exec_form(found.back().args);
    if (words) argv.insert(argv.end(), words->begin(), words->end());
  }
  return argv;
}

std::vector<std::string> proxy_health_check_command() {
  Dockerfile df = parse_dockerfile(proxy_dockerfile());
  auto found = df.in_stage(df.last_stage(), "HEALTHCHECK");
  if (found.empty()) return {};
  // Options (--interval=...) come before CMD; the exec form follows it.
  auto cmd = found.back().args.find("CMD ");
  if (cmd == std::string::npos) return {};
  return exec_form(found.back().args.substr(cmd + 4)).value_or(std::vector<std::string>{});
}

Outcome install_tree(const fs::path& prefix, const std::string& component, const fs::path& build) {
  std::vector<std::string> argv{cmake_command(), "--install", build.string(), "--prefix", prefix.string()};
  if (!component.empty()) {
    argv.push_back("--component");
    argv.push_back(component);
  }
  return run(argv, within_seconds(120));
}

// The one --component a Dockerfile installs.
std::string component_of(const Dockerfile& df) {
  std::vector<std::string> words;
  for (const auto& i : df.instructions) {
    if (i.keyword != "RUN") continue;
    auto w = split_words(i.args);
    words.insert(words.end(), w.begin(), w.end());
  }
  auto c = values_of(words, "--component");
  return c.empty() ? "" : c[0];
}

// Where a path of the final image comes from in an install tree at `prefix`,
// following the image's `COPY --from=build /install/X DEST` lines (later ones
// win, as in the image). Empty when no COPY provides it.
fs::path install_source_of(const Dockerfile& df, const fs::path& prefix, const std::string& image_path) {
  fs::path found;
  for (const auto& i : df.in_stage(df.last_stage(), "COPY")) {
    auto words = split_words(i.args);
    if (words.size() != 3 || words[0].rfind("--from=", 0) != 0) continue;
    const std::string& src = words[1];
    const std::string& dest = words[2];
    if (src.rfind("/install/", 0) != 0) continue;
    const std::string rel = src.substr(std::string("/install/").size());
    if (!dest.empty() && dest.back() == '/' && image_path.rfind(dest, 0) == 0) {
      found = prefix / rel / image_path.substr(dest.size());
    } else if (image_path == dest) {
      found = prefix / rel;
    }
  }
  return found;
}

// `${VAR:-default}` and `${VAR}` as compose interpolates them.
std::string interpolate(const std::string& text, const std::map<std::string, std::string>& env) {
  std::regex var(R"(\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\})");
  std::string out;
  auto begin = text.cbegin();
  for (std::smatch m; std::regex_search(begin, text.cend(), m, var); begin = m.suffix().first) {
    out += m.prefix().str();
    auto it = env.find(m[1].str());
    out += (it != env.end() && !it->second.empty()) ? it->second : m[3].str();
  }
  out += std::string(begin, text.cend());
  return out;
}

bool can_use_network_namespaces() {
  if (!find_program("unshare") || !find_program("ip") || !find_program("setpriv")) return false;
  return run({"unshare", "--net", "--", "ip", "link", "set", "lo", "up"}, within_seconds(10)).exit_code == 0;
}

// The image's paths, mapped: the binary and config to the install tree, the
// log volume to a directory owned by UID 13 like the image's.
std::vector<std::string> map_proxy_image_paths(std::vector<std::string> argv, const fs::path& prefix, const fs::path& logs) {
  Dockerfile df = parse_dockerfile(proxy_dockerfile());
  for (auto& a : argv) {
    if (a == "/var/log/squid") a = logs.string();
    else if (a.rfind('/', 0) == 0) {
      fs::path source = install_source_of(df, prefix, a);
      if (!source.empty()) a = source.string();
    }
  }
  return argv;
}

std::vector<std::string> as_proxy_user_in_new_netns(const std::vector<std::string>& argv) {
  std::vector<std::string> wrapped{"unshare", "--net", "--", "/bin/sh", "-c",
                                   "ip link set lo up && exec setpriv --reuid=13 --regid=13 --clear-groups -- \"$@\"",
                                   "sh"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

bool wait_until_ready(Background& proxy, int timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (proxy.alive() && !contains(proxy.err_so_far(), "ready") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return proxy.alive() && contains(proxy.err_so_far(), "ready");
}

}  // namespace awf::docker_test
