// Builds and loads the seccomp filter with libseccomp.
#include "awf/entrypoint/seccomp.h"

#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <memory>

#include "awf/entrypoint/log.h"
#include "awf/unique_fd.h"

namespace awf::entrypoint {
namespace {

// Namespace creation through clone(2) would bypass the unshare(2) denial.
constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                     CLONE_NEWNET | CLONE_NEWCGROUP | 0x00000080 /* CLONE_NEWTIME */;

// The socket families the command may create (see load_seccomp_filter).
constexpr uint64_t kLastAllowedFamily = AF_NETLINK;

bool is_allowed_socket_family(int family) {
  return family == AF_UNIX || family == AF_INET || family == AF_INET6 || family == AF_NETLINK;
}

using FilterPtr = std::unique_ptr<void, void (*)(scmp_filter_ctx)>;

Status add_rule(scmp_filter_ctx ctx, uint32_t action, const char* name, unsigned argc = 0,
                const scmp_arg_cmp* args = nullptr) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return ok_status();  // not on this architecture
  int rc = seccomp_rule_add_array(ctx, action, nr, argc, args);
  if (rc != 0) return Error{fmt::format("seccomp rule for {} failed: {}", name, errno_text(-rc))};
  return ok_status();
}

}  // namespace

const std::vector<std::string>& denied_syscalls() {
  // awf containers/agent/seccomp-profile.json's explicit denials, plus the
  // mount and namespace calls awf left to the capability drop: the command
  // gets EPERM even if a capability were somehow left.
  static const std::vector<std::string> names = {
      "ptrace", "process_vm_readv", "process_vm_writev", "kexec_load", "kexec_file_load", "reboot",
      "init_module", "finit_module", "delete_module", "create_module", "acct", "swapon", "swapoff",
      "syslog", "add_key", "request_key", "keyctl", "uselib", "name_to_handle_at", "open_by_handle_at",
      "mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns", "fsopen", "fsconfig",
      "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "bpf", "perf_event_open",
      "userfaultfd", "lookup_dcookie", "quotactl", "nfsservctl", "iopl", "ioperm", "vm86", "vm86old",
      "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime", "vhangup", "sysfs", "_sysctl",
      "get_kernel_syms", "query_module", "kcmp", "pidfd_getfd",
  };
  return names;
}

Result<std::vector<sock_filter>> compile_seccomp_filter() {
  FilterPtr filter(seccomp_init(SCMP_ACT_ALLOW), seccomp_release);
  if (!filter) return Error{"seccomp_init failed"};
  scmp_filter_ctx ctx = filter.get();
  // A 64-bit kernel also runs 32-bit code (int 0x80, x32): without those
  // architectures in the filter such calls hit the bad-architecture action
  // and the program is killed; with them, the same denials apply to them.
  if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
    for (uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
      int rc = seccomp_arch_add(ctx, arch);
      if (rc != 0 && rc != -EEXIST) return Error{fmt::format("seccomp_arch_add failed: {}", errno_text(-rc))};
    }
  }
  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  for (const auto& name : denied_syscalls()) {
    if (auto s = add_rule(ctx, deny, name.c_str()); !s) return s.error();
  }
  // clone: deny any namespace flag. clone3 passes its flags in memory the
  // filter cannot read: ENOSYS makes libc fall back to clone (Docker does this).
  for (uint64_t flag = 1; flag <= kNamespaceFlags; flag <<= 1) {
    if (!(kNamespaceFlags & flag)) continue;
    scmp_arg_cmp has_flag = SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag);
    if (auto s = add_rule(ctx, deny, "clone", 1, &has_flag); !s) return s.error();
  }
  if (auto s = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3"); !s) return s.error();
  // Socket families: only those the command needs. A network namespace
  // confines AF_INET/AF_INET6 (and AF_NETLINK to the namespace's own
  // tables) but not others: AF_VSOCK reaches the hypervisor, AF_BLUETOOTH,
  // AF_CAN and friends reach hardware. Any other family gets EAFNOSUPPORT,
  // as if the kernel lacked it. (32-bit x86 programs that still create
  // sockets through socketcall(2) cannot be filtered by family and are
  // denied all socket creation that way; their libc uses socket(2).)
  for (const char* call : {"socket", "socketpair"}) {
    for (uint64_t family = 0; family <= kLastAllowedFamily; ++family) {
      if (is_allowed_socket_family(static_cast<int>(family))) continue;
      scmp_arg_cmp is_family = SCMP_A0(SCMP_CMP_EQ, family);
      if (auto s = add_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1, &is_family); !s) return s.error();
    }
    scmp_arg_cmp above = SCMP_A0(SCMP_CMP_GT, kLastAllowedFamily);
    if (auto s = add_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), call, 1, &above); !s) return s.error();
  }
  // TIOCSTI/TIOCLINUX push input into a terminal shared with the outside.
  for (unsigned long request : {static_cast<unsigned long>(TIOCSTI), static_cast<unsigned long>(TIOCLINUX)}) {
    scmp_arg_cmp a = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, request);
    if (auto s = add_rule(ctx, deny, "ioctl", 1, &a); !s) return s.error();
  }
  // libseccomp 2.5 exports to a descriptor only.
  UniqueFd out(memfd_create("awf-seccomp", MFD_CLOEXEC));
  if (!out.valid()) return Error{fmt::format("memfd_create for the seccomp filter failed: {}", errno_text(errno))};
  if (int rc = seccomp_export_bpf(ctx, out.get()); rc != 0) {
    return Error{fmt::format("Compiling the seccomp filter failed: {}", errno_text(-rc))};
  }
  const off_t size = lseek(out.get(), 0, SEEK_CUR);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0 || lseek(out.get(), 0, SEEK_SET) != 0) {
    return Error{fmt::format("Compiling the seccomp filter gave {} bytes, not whole instructions", size)};
  }
  std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
  char* at = reinterpret_cast<char*>(program.data());
  for (size_t left = static_cast<size_t>(size); left > 0;) {
    const ssize_t got = read(out.get(), at, left);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return Error{fmt::format("Reading the compiled seccomp filter failed: {}", errno_text(errno))};
    at += got;
    left -= static_cast<size_t>(got);
  }
  return program;
}

Status load_seccomp_program(const std::vector<sock_filter>& program) {
  // As seccomp_load does with its default attributes: no flags (the caller
  // set no_new_privs).
  sock_fprog prog{static_cast<unsigned short>(program.size()), const_cast<sock_filter*>(program.data())};
  if (program.empty() || program.size() > BPF_MAXINSNS) {
    return Error{fmt::format("Loading the seccomp filter failed: {} instructions", program.size())};
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
    return Error{fmt::format("Loading the seccomp filter failed: {}", errno_text(errno))};
  }
  return ok_status();
}

Status load_seccomp_filter() {
  auto program = compile_seccomp_filter();
  if (!program) return program.error();
  return load_seccomp_program(*program);
}

}  // namespace awf::entrypoint
