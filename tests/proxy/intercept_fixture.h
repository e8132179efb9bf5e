// The interception test harness: a network namespace with only lo, a
// default route via lo and the agent's nftables ruleset (the launcher
// runtime's own functions, run on a thread that joined the namespace), the
// proxy's listeners created inside it and handed to the real awf-proxy
// outside by socket activation, origins and a DNS upstream on 127.x.y.z
// outside. Commands run inside with `ip netns exec`.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include "awf/testing/facility.h"
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "awf/intercept/netns_sockets.h"
#include "awf/intercept/socket_activation.h"
#include "awf/runtime/netns_setup.h"
#include "awf/runtime/runtime.h"
#include "awf/testing/dns_stub.h"
#include "awf/testing/files.h"
#include "awf/testing/net.h"
#include "awf/testing/process.h"
#include "proxy_fixture.h"

namespace awf::proxy_test {



inline int shell(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline bool have_program(const std::string& name) { return shell("command -v " + name) == 0; }

// 127.<a>.<b>.<n>: per-process addresses, so parallel suites (and other
// people's runs on the same host) never share an origin's port 80 or 443.
inline std::string loopback_ip(int n) {
  const int pid = static_cast<int>(::getpid());
  return "127." + std::to_string(100 + pid % 100) + "." + std::to_string((pid / 100) % 250 + 1) + "." +
         std::to_string(n);
}

// A plain HTTP origin on a fixed address and port (80 here), answering every
// request with "hello from <ip>" and closing; keeps the last request head.
class PlainOrigin {
 public:
  static std::unique_ptr<PlainOrigin> start(const std::string& ip, std::uint16_t port) {
    std::unique_ptr<PlainOrigin> o(new PlainOrigin());
    o->ip_ = ip;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) return nullptr;
    o->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(o->fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(o->fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(o->fd_, 64) != 0) return nullptr;
    if (::pipe2(o->stop_, O_CLOEXEC) != 0) return nullptr;
    o->thread_ = std::thread([raw = o.get()] { raw->run(); });
    return o;
  }
  ~PlainOrigin() {
    if (stop_[1] >= 0) [[maybe_unused]] auto n = ::write(stop_[1], "x", 1);
    if (thread_.joinable()) thread_.join();
    for (int f : {fd_, stop_[0], stop_[1]}) {
      if (f >= 0) ::close(f);
    }
  }
  std::size_t requests() const { return requests_; }
  std::string last_head() const {
    std::lock_guard lock(mutex_);
    return last_head_;
  }

 private:
  PlainOrigin() = default;
  void run() {
    for (;;) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string head;
      char buf[4096];
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      while (head.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 100) <= 0) continue;
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard lock(mutex_);
        last_head_ = head;
      }
      ++requests_;
      const std::string body = "hello from " + ip_ + "\n";
      const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      [[maybe_unused]] auto n = ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  std::string ip_;
  int fd_ = -1;
  int stop_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<std::size_t> requests_{0};
  mutable std::mutex mutex_;
  std::string last_head_;
};

// awf-proxy started the way the launcher starts it: listeners at fd 3..,
// LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES; stderr into a file.
class ActivatedProxy {
 public:
  static std::unique_ptr<ActivatedProxy> spawn(const std::vector<std::string>& argv,
                                               const std::vector<intercept::OpenedListener>& listeners,
                                               const std::string& stderr_path) {
    std::unique_ptr<ActivatedProxy> p(new ActivatedProxy());
    p->stderr_path_ = stderr_path;
    std::vector<intercept::PassedListener> passed;
    for (const auto& l : listeners) passed.push_back({l.kind, l.fd.get()});
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    auto handoff = intercept::ListenerHandoff::prepare(passed, std::move(env));
    if (!handoff) {
      ADD_FAILURE() << handoff.message();
      return nullptr;
    }
    const int log = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log < 0) return nullptr;
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const unsigned first_free = static_cast<unsigned>(intercept::kListenFdsStart + passed.size());
    const pid_t pid = ::fork();
    if (pid == 0) {
      // Async-signal-safe calls only: the test process has threads.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::setpgid(0, 0);
      if (::dup2(log, 1) < 0 || ::dup2(log, 2) < 0) ::_exit(126);
      if (handoff->apply_in_child() != 0) ::_exit(126);
      ::close_range(first_free, ~0U, CLOSE_RANGE_CLOEXEC);
      ::execve(args[0], args.data(), handoff->envp());
      ::_exit(127);
    }
    ::close(log);
    p->pid_ = pid;
    return p;
  }

  ~ActivatedProxy() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  std::string stderr_text() const { return awf::testing::read_file(stderr_path_); }

  bool wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (stderr_text().find(needle) != std::string::npos) return true;
      int status = 0;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return stderr_text().find(needle) != std::string::npos;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // SIGTERM, then the exit code (128+signal when killed); nullopt on timeout.
  std::optional<int> stop(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return std::nullopt;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

 private:
  ActivatedProxy() = default;
  pid_t pid_ = -1;
  std::string stderr_path_;
};

// Runs fn on a thread that joined the namespace (setns changes only the
// calling thread); sockets it opens live in the namespace.
inline void in_netns(int netns_fd, const std::function<void()>& fn) {
  std::thread t([&] {
    if (::setns(netns_fd, CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "setns: " << std::strerror(errno);
      return;
    }
    fn();
  });
  t.join();
}

class InterceptTest : public ::testing::Test {
 protected:
  // The DNS server the namespace's resolv.conf names: any address works
  // (nftables redirects UDP and TCP 53), a loopback one keeps the rule of
  // never sending anything towards a public address, even a redirected one.
  static constexpr const char* kResolvConfServer = "127.0.0.53";

  void SetUp() override {
    AWF_REQUIRE_FACILITY(::geteuid() == 0, "root (ip netns, nftables)");
    AWF_REQUIRE_FACILITY(have_program("ip"), "ip(8)");
    AWF_REQUIRE_FACILITY(have_program("curl"), "curl");
    AWF_REQUIRE_FACILITY(have_program("openssl"), "openssl");
    static std::atomic<int> counter{0};
    netns_ = "awf-pxy-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    AWF_REQUIRE_FACILITY(shell("ip netns add " + netns_) == 0, "ip netns add");
    netns_created_ = true;
    auto fd = intercept::open_netns("/run/netns/" + netns_);
    ASSERT_TRUE(fd.ok()) << fd.message();
    netns_fd_ = std::move(fd.value());
    // ip netns exec bind-mounts /etc/netns/NAME/* over /etc inside.
    std::filesystem::create_directories("/etc/netns/" + netns_);
    awf::testing::write_file("/etc/netns/" + netns_ + "/resolv.conf",
                             std::string("nameserver ") + kResolvConfServer + "\noptions timeout:2 attempts:1\n");
    // And its own hosts file: the machine's may name the test hosts (CI's
    // does), which would send the agent's tools past the DNS front end.
    awf::testing::write_file("/etc/netns/" + netns_ + "/hosts", "127.0.0.1 localhost\n::1 localhost\n");

    origin_ip_ = loopback_ip(21);
    other_ip_ = loopback_ip(22);
    web_ = PlainOrigin::start(origin_ip_, 80);
    ASSERT_TRUE(web_) << "cannot listen on " << origin_ip_ << ":80";
    const std::string key = dir_.file("key.pem");
    cert_ = dir_.file("cert.pem");
    auto made = awf::testing::run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert_, "-days",
                                   "1", "-subj", "/CN=allowed.test", "-addext",
                                   "subjectAltName=DNS:allowed.test,DNS:*.allowed.test,DNS:denied.test"});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    tls_ = Process::spawn({"openssl", "s_server", "-accept", origin_ip_ + ":443", "-cert", cert_, "-key", key,
                           "-www", "-quiet", "-naccept", "1000"});
    ASSERT_TRUE(awf::testing::wait_for_port(origin_ip_, 443, 10s)) << tls_->stderr_text();
    dns_ = awf::testing::DnsStub::start(loopback_ip(53), {{"allowed.test", {origin_ip_}},
                                                          {"www.allowed.test", {origin_ip_}},
                                                          {"denied.test", {origin_ip_}}});
    ASSERT_TRUE(dns_);

    // The agent's side: lo, routes, the ruleset and the listeners, all made
    // by the launcher runtime's functions inside the namespace.
    runtime::ListenerPorts ports;  // 3128, 3129, 3130, 53: the namespace is ours alone
    in_netns(netns_fd_.get(), [&] {
      auto ok = runtime::setup_agent_network(runtime::RulesetSpec{ports, {}});
      ASSERT_TRUE(ok.ok()) << ok.message();
      auto opened = runtime::open_agent_listeners(ports);
      ASSERT_TRUE(opened.ok()) << opened.message();
      listeners_ = std::move(opened.value());
    });
  }

  void TearDown() override {
    if (proxy_) {
      auto code = proxy_->stop(15s);
      EXPECT_EQ(code, std::optional<int>(0)) << proxy_->stderr_text();
      const std::string err = proxy_->stderr_text();
      EXPECT_EQ(err.find("Sanitizer"), std::string::npos) << err;
      EXPECT_EQ(err.find("runtime error"), std::string::npos) << err;
    }
    proxy_.reset();
    listeners_.clear();
    if (tls_) tls_->signal(SIGKILL);
    tls_.reset();
    web_.reset();
    netns_fd_.reset();
    if (netns_created_) {
      shell("ip netns del " + netns_);
      std::filesystem::remove_all("/etc/netns/" + netns_);
    }
  }

  std::vector<std::string> proxy_args(bool opt_in_private = true) const {
    std::vector<std::string> a = {AWF_PROXY_BIN,        "--allow-domains", "allowed.test",
                                  "--dns-servers",      loopback_ip(53) + ":" + std::to_string(dns_->port()),
                                  "--log-dir",          dir_.path(),
                                  "--threads",          "2",
                                  "--connect-timeout",  "5",
                                  "--client-hello-timeout", "3"};
    if (opt_in_private) a.insert(a.end(), {"--allow-private-ranges", "127.0.0.0/8"});
    return a;
  }

  void start_proxy(std::vector<std::string> args) {
    proxy_ = ActivatedProxy::spawn(args, listeners_, dir_.file("proxy.stderr"));
    ASSERT_TRUE(proxy_);
    ASSERT_TRUE(proxy_->wait_for_stderr("awf-proxy: ready", 15s)) << proxy_->stderr_text();
  }

  // A command inside the namespace.
  RunResult in_agent(std::vector<std::string> argv, std::chrono::milliseconds timeout = 30s) const {
    std::vector<std::string> full = {"ip", "netns", "exec", netns_};
    full.insert(full.end(), argv.begin(), argv.end());
    return awf::testing::run(full, timeout);
  }

  // curl as a proxy-unaware tool: no proxy variables, ever.
  RunResult agent_curl(std::vector<std::string> args) const {
    std::vector<std::string> argv = {"env", "-u", "http_proxy", "-u", "https_proxy", "-u", "HTTP_PROXY", "-u",
                                     "HTTPS_PROXY", "-u", "ALL_PROXY", "-u", "all_proxy",
                                     "curl", "-sS", "--max-time", "15", "--noproxy", "*", "--cacert", cert_};
    argv.insert(argv.end(), args.begin(), args.end());
    return in_agent(argv);
  }

  std::vector<std::string> log_lines(std::size_t n, std::chrono::milliseconds timeout = 10s) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto lines = split(awf::testing::read_file(dir_.file("access.log")), '\n');
      if (lines.size() >= n || std::chrono::steady_clock::now() > deadline) return lines;
      std::this_thread::sleep_for(20ms);
    }
  }

  // The first access-log line containing every needle, waiting for it.
  std::optional<std::string> log_line_with(std::vector<std::string> needles,
                                           std::chrono::milliseconds timeout = 10s) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      for (const auto& line : split(awf::testing::read_file(dir_.file("access.log")), '\n')) {
        bool all = true;
        for (const auto& n : needles) all = all && line.find(n) != std::string::npos;
        if (all) return line;
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(20ms);
    }
  }

  TempDir dir_;
  std::string netns_;
  bool netns_created_ = false;
  UniqueFd netns_fd_;
  std::string origin_ip_, other_ip_, cert_;
  std::unique_ptr<PlainOrigin> web_;
  std::unique_ptr<Process> tls_;
  std::unique_ptr<awf::testing::DnsStub> dns_;
  std::vector<intercept::OpenedListener> listeners_;
  std::unique_ptr<ActivatedProxy> proxy_;
};

}  // namespace awf::proxy_test
