// Descriptor-based tree walks for root's file operations after the command
// started (see safe_tree.h for the rules they keep).
#include "awf/runtime/safe_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "awf/errno_text.h"

namespace awf::runtime {
namespace {

// Deeper trees than this are refused rather than walked: every level holds
// one descriptor.
constexpr int kMaxDepth = 256;

// The names in a directory, read through a duplicate of `fd` so that the
// caller keeps its own descriptor for the *at() calls that follow.
Result<std::vector<std::string>> list_names(int fd, const std::string& shown_as) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return Error{"cannot read directory " + shown_as + ": " + errno_text(errno)};
  DIR* dir = ::fdopendir(copy);
  if (dir == nullptr) {
    const int err = errno;
    ::close(copy);
    return Error{"cannot read directory " + shown_as + ": " + errno_text(err)};
  }
  ::rewinddir(dir);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  const int err = errno;
  ::closedir(dir);
  if (err != 0) return Error{"cannot read directory " + shown_as + ": " + errno_text(err)};
  return names;
}

Status remove_below(int dir_fd, dev_t device, const std::string& shown_as, int depth) {
  if (depth > kMaxDepth) return Error{"not removing " + shown_as + ": deeper than " + std::to_string(kMaxDepth)};
  auto names = list_names(dir_fd, shown_as);
  if (!names) return names.error();
  std::string failures;
  for (const auto& name : *names) {
    const std::string path = shown_as + "/" + name;
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) failures += (failures.empty() ? "" : "; ") + path + ": " + errno_text(errno);
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != device) {
        failures += (failures.empty() ? "" : "; ") + path + ": another file system is mounted there";
        continue;
      }
      auto child = open_directory_at(dir_fd, name, path);
      if (!child) {
        failures += (failures.empty() ? "" : "; ") + child.message();
        continue;
      }
      if (auto status = remove_below(child->get(), device, path, depth + 1); !status) {
        failures += (failures.empty() ? "" : "; ") + status.message();
        continue;
      }
      if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) {
        failures += (failures.empty() ? "" : "; ") + path + ": " + errno_text(errno);
      }
    } else if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      failures += (failures.empty() ? "" : "; ") + path + ": " + errno_text(errno);
    }
  }
  if (!failures.empty()) return Error{"cannot remove " + failures};
  return ok_status();
}

Status copy_file_at(int from_dir, int to_dir, const std::string& name, const std::string& shown_as) {
  UniqueFd in(::openat(from_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in) return Error{"cannot open " + shown_as + ": " + errno_text(errno)};
  UniqueFd out(::openat(to_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return Error{"cannot create the copy of " + shown_as + ": " + errno_text(errno)};
  char buffer[65536];
  for (;;) {
    ssize_t got = ::read(in.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Error{"cannot read " + shown_as + ": " + errno_text(errno)};
    if (got == 0) break;
    for (ssize_t done = 0; done < got;) {
      ssize_t put = ::write(out.get(), buffer + done, static_cast<size_t>(got - done));
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) return Error{"cannot write the copy of " + shown_as + ": " + errno_text(errno)};
      done += put;
    }
  }
  if (::fsync(out.get()) != 0) return Error{"cannot write the copy of " + shown_as + ": " + errno_text(errno)};
  return ok_status();
}

Status copy_below(int from_fd, int to_fd, const std::string& shown_as, int depth, std::string& skipped) {
  if (depth > kMaxDepth) return Error{"not copying " + shown_as + ": deeper than " + std::to_string(kMaxDepth)};
  auto names = list_names(from_fd, shown_as);
  if (!names) return names.error();
  for (const auto& name : *names) {
    const std::string path = shown_as + "/" + name;
    struct stat st {};
    if (::fstatat(from_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Error{"cannot inspect " + path + ": " + errno_text(errno)};
    }
    if (S_ISREG(st.st_mode)) {
      if (auto status = copy_file_at(from_fd, to_fd, name, path); !status) return status;
    } else if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(to_fd, name.c_str(), 0700) != 0) {
        return Error{"cannot create the copy of " + path + ": " + errno_text(errno)};
      }
      auto from_child = open_directory_at(from_fd, name, path);
      if (!from_child) return from_child.error();
      auto to_child = open_directory_at(to_fd, name, "the copy of " + path);
      if (!to_child) return to_child.error();
      if (auto status = copy_below(from_child->get(), to_child->get(), path, depth + 1, skipped); !status) {
        return status;
      }
    } else {
      skipped += (skipped.empty() ? "" : ", ") + path;
    }
  }
  return ok_status();
}

void readable_below(int dir_fd, const std::string& shown_as, int depth, std::string& failures) {
  auto note = [&](const std::string& what) { failures += (failures.empty() ? "" : "; ") + what; };
  struct stat self {};
  if (::fstat(dir_fd, &self) != 0 || ::fchmod(dir_fd, (self.st_mode & 07777) | 0555) != 0) {
    note(shown_as + ": " + errno_text(errno));
  }
  if (depth > kMaxDepth) {
    note(shown_as + ": deeper than " + std::to_string(kMaxDepth));
    return;
  }
  auto names = list_names(dir_fd, shown_as);
  if (!names) {
    note(names.message());
    return;
  }
  for (const auto& name : *names) {
    const std::string path = shown_as + "/" + name;
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      note(path + ": " + errno_text(errno));
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      auto child = open_directory_at(dir_fd, name, path);
      if (!child) {
        note(child.message());
        continue;
      }
      readable_below(child->get(), path, depth + 1, failures);
    } else if (S_ISREG(st.st_mode)) {
      // O_NOFOLLOW: a name that became a link since fstatat is refused, not followed.
      UniqueFd file(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      struct stat now {};
      if (!file || ::fstat(file.get(), &now) != 0 || !S_ISREG(now.st_mode)) {
        note(path + ": " + (file ? "no longer a regular file" : errno_text(errno)));
        continue;
      }
      mode_t mode = (now.st_mode & 07777) | 0444;
      if (now.st_mode & 0111) mode |= 0111;
      if (::fchmod(file.get(), mode) != 0) note(path + ": " + errno_text(errno));
    }
    // Links, sockets, FIFOs and devices keep their modes.
  }
}

}  // namespace

Result<UniqueFd> open_directory(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return Error{"cannot open directory " + path + ": " + errno_text(errno)};
  return fd;
}

Result<UniqueFd> open_directory_at(int parent_fd, const std::string& name, const std::string& shown_as) {
  UniqueFd fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return Error{"cannot open directory " + shown_as + ": " + errno_text(errno)};
  return fd;
}

Status remove_tree_at(int parent_fd, const std::string& name, const std::string& shown_as) {
  struct stat st {};
  if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return ok_status();
    return Error{"cannot remove " + shown_as + ": " + errno_text(errno)};
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parent_fd, name.c_str(), 0) != 0) return Error{"cannot remove " + shown_as + ": " + errno_text(errno)};
    return ok_status();
  }
  auto dir = open_directory_at(parent_fd, name, shown_as);
  if (!dir) return dir.error();
  if (auto status = remove_below(dir->get(), st.st_dev, shown_as, 0); !status) return status;
  if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0) {
    return Error{"cannot remove " + shown_as + ": " + errno_text(errno)};
  }
  return ok_status();
}

Status copy_tree_at(int from_fd, int to_fd, const std::string& shown_as) {
  std::string skipped;
  if (auto status = copy_below(from_fd, to_fd, shown_as, 0, skipped); !status) return status;
  if (!skipped.empty()) return Error{"not copied (neither a file nor a directory): " + skipped};
  return ok_status();
}

Status make_tree_readable(int dir_fd, const std::string& shown_as) {
  std::string failures;
  readable_below(dir_fd, shown_as, 0, failures);
  if (!failures.empty()) return Error{"cannot make readable: " + failures};
  return ok_status();
}

std::string random_suffix() {
  unsigned char bytes[6] = {};
  size_t have = 0;
  while (have < sizeof bytes) {
    ssize_t got = ::getrandom(bytes + have, sizeof bytes - have, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // no entropy source at all: fall through with what we have
    have += static_cast<size_t>(got);
  }
  char text[2 * sizeof bytes + 1];
  for (size_t i = 0; i < sizeof bytes; ++i) std::snprintf(text + 2 * i, 3, "%02x", bytes[i]);
  return text;
}

}  // namespace awf::runtime
