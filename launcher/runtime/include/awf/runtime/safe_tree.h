// File-tree operations that awf performs as root after the sandboxed command
// has started, written so that nothing the command left behind can redirect
// them: every step works on directory descriptors (openat and friends), no
// symbolic link is ever followed, nothing is created over an existing name,
// and no walk leaves the file system it started on. See docs/threat-model.md
// ("Root file operations after the command started").
#pragma once

#include <sys/types.h>

#include <string>

#include "awf/result.h"
#include "awf/unique_fd.h"

namespace awf::runtime {

// Opens an existing directory for *at() calls; a symbolic link as the last
// component is refused (ELOOP), like anything that is not a directory.
Result<UniqueFd> open_directory(const std::string& path);
Result<UniqueFd> open_directory_at(int parent_fd, const std::string& name, const std::string& shown_as);

// Removes `name` under `parent_fd` and everything below it. Symbolic links
// are removed, never followed; sub-directories on another device (a mount)
// are left alone and reported.
Status remove_tree_at(int parent_fd, const std::string& name, const std::string& shown_as);

// Copies directories and regular files from `from_fd` into the empty
// directory `to_fd` (files created with O_EXCL, directories with mkdirat);
// anything else (links, sockets, FIFOs, devices) is skipped and named in the
// returned error after the copy finished.
Status copy_tree_at(int from_fd, int to_fd, const std::string& shown_as);

// chmod a+rX over a tree through descriptors opened with O_NOFOLLOW:
// directories become 0755-like, files gain read for everyone. Best effort:
// every entry is tried; failures are returned as one message.
Status make_tree_readable(int dir_fd, const std::string& shown_as);

// A name nobody can guess: 12 hex digits from getrandom(2).
std::string random_suffix();

}  // namespace awf::runtime
