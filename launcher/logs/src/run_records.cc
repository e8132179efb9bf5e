// awf's record of its runs (see run_records.h for why `awf logs` trusts only
// these).
#include "awf/logs/run_records.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

namespace awf::logs {
namespace {

namespace fs = std::filesystem;

constexpr size_t kKeptRecords = 200;

std::string get(const std::map<std::string, std::string>& env, const char* key) {
  auto it = env.find(key);
  return it == env.end() ? std::string() : it->second;
}

std::string why(int err) { return std::strerror(err); }

// Trusted: owned by the reader or root, writable by neither group nor others.
bool trusted_owner(const struct stat& st) {
  return (st.st_uid == 0 || st.st_uid == ::geteuid()) && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

Status make_private_dir(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Error{"cannot create " + path + ": " + ec.message()};
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Error{"cannot inspect " + path + ": " + why(errno)};
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
    return Error{path + " is not a directory of this user; not recording the run there"};
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && ::chmod(path.c_str(), st.st_mode & 0755) != 0) {
    return Error{"cannot make " + path + " private: " + why(errno)};
  }
  return ok_status();
}

bool is_record_name(const std::string& name) {
  return !name.empty() && name.size() < 64 &&
         std::all_of(name.begin(), name.end(), [](char c) { return (c >= '0' && c <= '9') || c == '-'; });
}

}  // namespace

std::string own_state_dir(const std::map<std::string, std::string>& env) {
  if (auto dir = get(env, "AWF_STATE_DIR"); !dir.empty()) return dir;
  if (::geteuid() == 0) return "/var/lib/awf";
  if (auto xdg = get(env, "XDG_STATE_HOME"); !xdg.empty() && xdg[0] == '/') return xdg + "/awf";
  if (auto home = get(env, "HOME"); !home.empty()) return home + "/.local/state/awf";
  return "/var/lib/awf";  // nowhere of our own: reading root's is still possible
}

std::vector<std::string> trusted_state_dirs(const std::map<std::string, std::string>& env) {
  if (auto dir = get(env, "AWF_STATE_DIR"); !dir.empty()) return {dir};
  std::vector<std::string> dirs = {"/var/lib/awf"};
  if (::geteuid() != 0) {
    auto own = own_state_dir(env);
    if (own != dirs.front()) dirs.push_back(own);
  }
  return dirs;
}

Status write_run_record(const std::string& state_dir, const RunRecord& record) {
  if (!is_record_name(record.id)) return Error{"invalid run id \"" + record.id + "\""};
  if (record.log_dir.find('\n') != std::string::npos) return Error{"log directory name has a newline"};
  if (auto status = make_private_dir(state_dir); !status) return status;
  const std::string runs = state_dir + "/runs";
  if (auto status = make_private_dir(runs); !status) return status;
  const std::string text = "log_dir=" + record.log_dir + "\npid=" + std::to_string(record.pid) + "\n";
  const std::string temp = runs + "/." + record.id + ".new";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return Error{"cannot write " + temp + ": " + why(errno)};
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  ::close(fd);
  if (!written || ::rename(temp.c_str(), (runs + "/" + record.id).c_str()) != 0) {
    ::unlink(temp.c_str());
    return Error{"cannot write the run record in " + runs + ": " + why(written ? errno : err)};
  }
  // Keep the newest records only (ids are epoch ms: longer, then larger, is newer).
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(runs, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (is_record_name(name)) names.push_back(name);
  }
  if (names.size() > kKeptRecords) {
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    for (size_t i = 0; i + kKeptRecords < names.size(); ++i) ::unlink((runs + "/" + names[i]).c_str());
  }
  return ok_status();
}

std::vector<RunRecord> read_run_records(const std::vector<std::string>& state_dirs, std::vector<std::string>* skipped) {
  std::vector<RunRecord> records;
  auto skip = [&](std::string line) {
    if (skipped) skipped->push_back(std::move(line));
  };
  for (const auto& state_dir : state_dirs) {
    const std::string runs = state_dir + "/runs";
    int dir_fd = ::open(runs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) continue;  // no runs recorded there
    struct stat st {};
    if (::fstat(dir_fd, &st) != 0 || !trusted_owner(st)) {
      ::close(dir_fd);
      skip(runs + ": not trusted (must belong to you or root and be writable by nobody else)");
      continue;
    }
    DIR* dir = ::fdopendir(dir_fd);
    if (dir == nullptr) {
      ::close(dir_fd);
      continue;
    }
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (!is_record_name(name)) continue;
      int fd = ::openat(::dirfd(dir), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) continue;
      struct stat file {};
      std::string text;
      if (::fstat(fd, &file) == 0 && S_ISREG(file.st_mode) && trusted_owner(file) && file.st_size < 8192) {
        char buffer[8192];
        ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got > 0) text.assign(buffer, static_cast<size_t>(got));
      } else {
        skip(runs + "/" + name + ": not trusted");
      }
      ::close(fd);
      RunRecord record;
      record.id = name;
      record.owner = file.st_uid;
      size_t pos = 0;
      while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + pos, end - pos);
        if (line.rfind("log_dir=", 0) == 0) record.log_dir = std::string(line.substr(8));
        if (line.rfind("pid=", 0) == 0) std::from_chars(line.data() + 4, line.data() + line.size(), record.pid);
        pos = end + 1;
      }
      if (!record.log_dir.empty()) records.push_back(std::move(record));
    }
    ::closedir(dir);
  }
  return records;
}

Status check_log_dir(const std::string& dir, uid_t owner) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return Error{dir + ": " + why(errno)};
  if (!S_ISDIR(st.st_mode)) return Error{dir + ": not a directory"};
  if (st.st_uid != owner) return Error{dir + ": owned by uid " + std::to_string(st.st_uid) + ", not by the run's user"};
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return Error{dir + ": writable by others"};
  const std::string log = dir + "/access.log";
  if (::lstat(log.c_str(), &st) != 0) return Error{log + ": " + why(errno)};
  if (!S_ISREG(st.st_mode)) return Error{log + ": not a regular file"};
  if (st.st_uid != owner) return Error{log + ": owned by uid " + std::to_string(st.st_uid) + ", not by the run's user"};
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return Error{log + ": writable by others"};
  return ok_status();
}

}  // namespace awf::logs
