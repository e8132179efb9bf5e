// Probe run inside the sandbox: makes 32-bit system calls (int $0x80) from a
// 64-bit process, the way 32-bit programs reach the kernel, and prints what
// the seccomp filter made of them.
#include <cstdio>

namespace {

long syscall32(long nr, long a0) {
  long ret;
  // i386 ABI: number in eax, first argument in ebx.
  asm volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a0) : "memory");
  return ret;
}

}  // namespace

int main() {
  constexpr long kGetpid32 = 20, kPtrace32 = 26, kUnshare32 = 310;
  std::printf("getpid=%s ptrace=%ld unshare=%ld\n", syscall32(kGetpid32, 0) > 0 ? "ok" : "fail",
              syscall32(kPtrace32, 0 /* PTRACE_TRACEME */), syscall32(kUnshare32, 0x00020000 /* CLONE_NEWNS */));
  return 0;
}
