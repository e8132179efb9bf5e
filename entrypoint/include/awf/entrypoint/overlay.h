// Files we place over paths inside the command's root (resolv.conf, passwd,
// group) without writing to the file underneath: the content lives in our
// work directory and is bind-mounted over the target. A target that did not
// exist is created for the mount and removed again when the run ends.
#pragma once

#include <string>
#include <vector>

#include "awf/unique_fd.h"
#include "awf/result.h"

namespace awf::entrypoint {

class FileOverlay {
 public:
  // `scratch` is a directory on our private tmpfs. `remove_created`: false
  // when the targets live on our own tmpfs (a built view), which goes away
  // with the mount namespace anyway.
  FileOverlay(std::string scratch, bool remove_created)
      : scratch_(std::move(scratch)), remove_created_(remove_created) {}
  FileOverlay(const FileOverlay&) = delete;
  FileOverlay& operator=(const FileOverlay&) = delete;
  ~FileOverlay();  // restore(): unmount and remove what we created

  // Shows `content` at `path` inside `root`, read-only.
  Status place(const std::string& root, const std::string& path, const std::string& content);
  void restore();

 private:
  struct Created {
    std::string host_path;
    UniqueFd parent;  // unlinkat() relative to it: no path re-resolution
    std::string name;
  };
  std::string scratch_;
  bool remove_created_;
  int counter_ = 0;
  std::vector<Created> created_;
};

// Reads a whole file; "" and ok for a missing file when `missing_ok`.
Result<std::string> read_file(const std::string& path, bool missing_ok);
// The same for `path` inside `root`, symlinks resolved within the root (a
// prepared root's /etc/passwd must not lead us to the host's).
Result<std::string> read_file_in_root(const std::string& root, const std::string& path, bool missing_ok);

}  // namespace awf::entrypoint
