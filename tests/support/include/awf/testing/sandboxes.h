// Real sandbox tools for tests: bubblewrap, firejail, podman and a plain
// `ip netns` namespace, each started without network (a network namespace
// of its own with only loopback, up) and running a shell script. A test finds
// a process inside the sandbox's network namespace, hands that namespace to
// awf-proxy --netns (or that process to awf attach --pid), lets the script
// go, then waits for its exit and reads its output.
//
// Every sandbox sees a hosts file and a resolv.conf of its own (localhost
// only, `nameserver 127.0.0.1`), never the machine's, whose extra names would
// make a test depend on the machine it runs on. podman runs from a root
// directory made here (the host's /usr bound read-only), without an image or
// a registry, with its storage and state in the sandbox's directory.
// docs/sandboxes.md shows the same commands for people.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "awf/testing/files.h"
#include "awf/testing/process.h"

namespace awf::testing {

enum class SandboxKind { bubblewrap, firejail, podman, ip_netns };

// "bubblewrap", "firejail", "podman", "ip_netns" (usable in test names).
std::string sandbox_name(SandboxKind kind);
std::ostream& operator<<(std::ostream& out, SandboxKind kind);  // its name

// "" when the tools `kind` needs are installed, else which one is missing,
// worded for AWF_REQUIRE_FACILITY. Starting a sandbox also needs root.
std::string sandbox_missing(SandboxKind kind);

// The network namespace inode of a process (what `readlink /proc/PID/ns/net`
// shows between brackets); 0 when it cannot be read.
std::uint64_t netns_inode(int pid);

// Processes whose network namespace is `inode`, and bind mounts of it
// (`ip netns add` makes one): while any is left, the namespace and every
// socket in it live on. One line each ("pid 123 (sh)", "mount /run/netns/x");
// empty when the namespace is gone.
std::vector<std::string> netns_users(std::uint64_t inode);

class Sandbox {
 public:
  // Starts `script` (run by sh) in a new sandbox of `kind`. The script first
  // waits until release(), so that a proxy can be put into its namespace
  // before it needs one; start() returns once that namespace exists. Never
  // throws and never returns nullptr: failure() says what went wrong.
  // `tool_flags` go to the tool after its own flags, before the program
  // (bwrap's "--cap-drop ALL", firejail's "--caps.drop=all", podman run's
  // "--cap-drop"); for ip_netns, which has no such flags, they are a command
  // that `ip netns exec` runs the script with (`setpriv --bounding-set -all`).
  static std::unique_ptr<Sandbox> start(SandboxKind kind, const std::string& script,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                        const std::vector<std::string>& tool_flags = {});
  // Kills whatever is left in the sandbox, removes the container or the
  // named namespace, then the directory.
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // "" when the sandbox runs, else why not (with the tool's stderr).
  const std::string& failure() const { return failure_; }
  // The tool's command line, as started.
  const std::vector<std::string>& command() const { return command_; }
  std::string command_text() const;
  // Host PID of a process inside the sandbox's network namespace, found the
  // tool's own way: bubblewrap's --info-fd, podman's --pidfile, the child of
  // firejail's launcher that is in another network namespace than ours,
  // `ip netns exec` itself once it has entered the namespace.
  int pid() const { return pid_; }
  std::uint64_t inode() const { return inode_; }
  // What to give awf-proxy --netns: /proc/PID/ns/net, or /run/netns/NAME for
  // ip_netns.
  const std::string& netns() const { return netns_; }
  // A directory the script sees at the same path (its files live there).
  const std::string& dir() const { return share_; }

  // Lets the script run.
  void release() const;
  // The script's exit status (the tool passes it on), or nullopt at the deadline.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  std::string output() const;  // the script's stdout
  std::string errors() const;  // its stderr, and the tool's

  // What the tool still has of this sandbox after the script ended: a
  // container podman lists, a sandbox firejail lists, the named namespace.
  // One line each; empty when none.
  std::vector<std::string> leftovers() const;
  // Removes the named namespace (ip_netns; `ip netns del`): the end of such
  // a sandbox, which no exiting process brings. A no-op for other kinds.
  void remove_namespace();

 private:
  explicit Sandbox(SandboxKind kind) : kind_(kind) {}
  void launch(const std::string& script, std::chrono::milliseconds timeout,
              const std::vector<std::string>& tool_flags);
  std::vector<std::string> podman_command(std::vector<std::string> args) const;

  SandboxKind kind_;
  TempDir dir_;
  std::string share_;  // dir_/share: the script, the release marker
  std::string name_;   // the container's or named namespace's name
  std::vector<std::string> command_;
  std::unique_ptr<Process> launcher_;
  std::string failure_;
  int pid_ = -1;
  std::uint64_t inode_ = 0;
  std::string netns_;
  bool namespace_added_ = false;
  bool etc_netns_created_ = false;  // /etc/netns was made for this sandbox
};

}  // namespace awf::testing
