// fork/exec with stdout and stderr read by a thread per pipe, so a test can
// wait for a line while the child keeps running.
#include "awf/testing/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace awf::testing {

struct Process::Impl {
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::string out, err;
  std::thread out_reader, err_reader;

  void read_loop(int fd, std::string Impl::*target) {
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      {
        std::lock_guard lock(mutex);
        (this->*target).append(buf, static_cast<std::size_t>(n));
      }
      changed.notify_all();
    }
    ::close(fd);
  }
};

std::unique_ptr<Process> Process::spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::unique_ptr<Process> p(new Process());
  p->impl_ = std::make_unique<Impl>();
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return p;
  // The inherited environment less the machine's proxy variables (a test
  // sets its own, or none: curl and awf read them) and less the names `env`
  // sets, so that `env` wins whatever the caller's environment holds.
  static const std::set<std::string> kProxyVars = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                                                   "all_proxy",  "ALL_PROXY",   "no_proxy",   "NO_PROXY",
                                                   "ftp_proxy",  "FTP_PROXY"};
  std::set<std::string> replaced;
  for (const auto& e : env) replaced.insert(e.substr(0, e.find('=')));
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    if (!kProxyVars.contains(name) && !replaced.contains(name)) envs.push_back(entry);
  }
  for (const auto& e : env) envs.push_back(e);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::setpgid(0, 0);
    // A test that crashes must not leave proxies behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execvpe(cargv[0], cargv.data(), cenv.data());
    const char* msg = "exec failed: ";
    [[maybe_unused]] auto n1 = ::write(2, msg, std::strlen(msg));
    const char* why = std::strerror(errno);
    [[maybe_unused]] auto n2 = ::write(2, why, std::strlen(why));
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  p->pid_ = pid;
  Impl* impl = p->impl_.get();
  impl->out_reader = std::thread([impl, fd = out[0]] { impl->read_loop(fd, &Impl::out); });
  impl->err_reader = std::thread([impl, fd = err[0]] { impl->read_loop(fd, &Impl::err); });
  return p;
}

Process::~Process() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
  if (impl_) {
    if (impl_->out_reader.joinable()) impl_->out_reader.join();
    if (impl_->err_reader.joinable()) impl_->err_reader.join();
  }
}

void Process::signal(int sig) const {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, sig);
}

bool Process::running() { return !wait(std::chrono::milliseconds(0)).has_value(); }

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  if (pid_ <= 0) return 127;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (impl_->out_reader.joinable()) impl_->out_reader.join();
      if (impl_->err_reader.joinable()) impl_->err_reader.join();
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string Process::stdout_text() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->out;
}

std::string Process::stderr_text() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->err;
}

std::optional<std::string> Process::wait_for_stderr(std::string_view needle, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto pos = impl_->err.find(needle);
    if (pos != std::string::npos) {
      auto start = impl_->err.rfind('\n', pos);
      start = start == std::string::npos ? 0 : start + 1;
      auto end = impl_->err.find('\n', pos);
      return impl_->err.substr(start, end == std::string::npos ? std::string::npos : end - start);
    }
    if (impl_->changed.wait_until(lock, deadline) == std::cv_status::timeout) {
      if (impl_->err.find(needle) == std::string::npos) return std::nullopt;
    }
  }
}

std::size_t Process::stderr_count(std::string_view needle) const {
  std::lock_guard lock(impl_->mutex);
  std::size_t count = 0, pos = 0;
  while ((pos = impl_->err.find(needle, pos)) != std::string::npos) {
    ++count;
    pos += needle.size();
  }
  return count;
}

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  auto p = Process::spawn(argv);
  RunResult r;
  auto code = p->wait(timeout);
  if (!code) {
    p->signal(SIGKILL);
    p->wait(std::chrono::seconds(5));
  } else {
    r.exit_code = *code;
  }
  r.out = p->stdout_text();
  r.err = p->stderr_text();
  return r;
}

}  // namespace awf::testing
