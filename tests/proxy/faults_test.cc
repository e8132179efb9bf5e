// Faults the real awf-proxy must survive, each against real clients and
// origins on loopback: running out of file descriptors, origins that reset
// or stall in the middle of a body, a full log disk, SIGHUP storms and
// SIGTERM while requests are running. In every one a client asking for a
// denied host runs alongside: it must get 403 each time, be logged, and the
// origin must never see its request.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <set>

#include "awf/testing/facility.h"
#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

// An origin that misbehaves on request, for the mid-body faults. Paths:
//   /reset/TOTAL/SENT     Content-Length TOTAL, SENT body bytes, then RST
//   /chunked-reset/SENT   chunked, one chunk of SENT bytes, then RST
//   /unframed-reset/SENT  no length (the body ends with the connection),
//                         SENT bytes, then RST
//   /stall/TOTAL/SENT     Content-Length TOTAL, SENT bytes, then silence
//                         with the connection open until the origin stops
//   anything else         200 "ok" (keep-alive)
class FaultyOrigin {
 public:
  static std::unique_ptr<FaultyOrigin> start(const std::string& host) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
      ::close(fd);
      return nullptr;
    }
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    std::unique_ptr<FaultyOrigin> o(new FaultyOrigin);
    o->listen_fd_ = fd;
    o->port_ = ntohs(a.sin_port);
    o->acceptor_ = std::thread([p = o.get()] { p->accept_loop(); });
    return o;
  }
  ~FaultyOrigin() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    for (auto& t : connections_) t.join();
    ::close(listen_fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  FaultyOrigin() = default;

  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      connections_.emplace_back([this, c] { serve(c); });
    }
  }

  // Reads one request head; "" when the client left or the origin stops.
  std::string read_head(int c) {
    std::string in;
    char buf[4096];
    while (!stop_ && in.find("\r\n\r\n") == std::string::npos) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return "";
      in.append(buf, static_cast<std::size_t>(n));
    }
    return in;
  }

  static void send_all(int c, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(c, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

  static void reset(int c) {
    linger l{1, 0};
    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(c);
  }

  void serve(int c) {
    for (;;) {
      const std::string head = read_head(c);
      if (head.empty()) break;
      const std::string path = head.substr(head.find(' ') + 1, head.find(' ', head.find(' ') + 1) - head.find(' ') - 1);
      std::smatch m;
      if (std::regex_match(path, m, std::regex("/reset/(\\d+)/(\\d+)"))) {
        send_all(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " + m[1].str() +
                        "\r\n\r\n" + std::string(std::stoul(m[2].str()), 'r'));
        std::this_thread::sleep_for(100ms);  // the bytes reach the proxy before the reset
        return reset(c);
      }
      if (std::regex_match(path, m, std::regex("/chunked-reset/(\\d+)"))) {
        const std::size_t n = std::stoul(m[1].str());
        char size[32];
        std::snprintf(size, sizeof size, "%zx", n);
        send_all(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + "\r\n" +
                        std::string(n, 'c') + "\r\n");
        std::this_thread::sleep_for(100ms);
        return reset(c);
      }
      if (std::regex_match(path, m, std::regex("/unframed-reset/(\\d+)"))) {
        send_all(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(std::stoul(m[1].str()), 'u'));
        std::this_thread::sleep_for(100ms);
        return reset(c);
      }
      if (std::regex_match(path, m, std::regex("/stall/(\\d+)/(\\d+)"))) {
        send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: " + m[1].str() + "\r\n\r\n" +
                        std::string(std::stoul(m[2].str()), 's'));
        // Silent until the proxy gives up (EOF) or the test ends.
        char byte;
        while (!stop_) {
          pollfd p{c, POLLIN, 0};
          if (::poll(&p, 1, 50) > 0 && ::recv(c, &byte, 1, 0) <= 0) break;
        }
        ::close(c);
        return;
      }
      send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
    ::close(c);
  }

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // only the acceptor thread adds, joined after it
};

// A response read from a raw connection: its status and whether the body
// arrived whole by its own framing (Content-Length).
struct Outcome {
  int status = 0;
  bool complete = false;
};

Outcome outcome_of(const std::string& response) {
  Outcome o;
  if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return o;
  o.status = std::atoi(response.c_str() + 9);
  const auto end = response.find("\r\n\r\n");
  if (end == std::string::npos) return o;
  const std::string length = header_value(response, "Content-Length");
  o.complete = !length.empty() && response.size() - end - 4 == std::stoul(length);
  return o;
}

// CPU seconds (user + system) the process has used so far.
double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The value of one series in a /metrics text; all ones when it is missing.
std::uint64_t metric_value(const std::string& text, const std::string& series) {
  for (const auto& line : split(text, '\n')) {
    if (line.rfind(series + " ", 0) == 0) return std::stoull(line.substr(series.size() + 1));
  }
  return ~0ull;
}

// The URL field of each logged line (awf's format), counted.
std::map<std::string, int> logged_urls(const std::vector<std::string>& lines) {
  std::map<std::string, int> urls;
  for (const auto& line : lines) ++urls[parse_detailed(line).url];
  return urls;
}

class FaultsTest : public ProxyTest {
 protected:
  static constexpr const char* kFaultyIp = "127.0.0.14";

  void SetUp() override {
    ProxyTest::SetUp();
    if (HasFatalFailure()) return;
    faulty_ = FaultyOrigin::start(kFaultyIp);
    ASSERT_TRUE(faulty_);
    std::string hosts = awf::testing::read_file(hosts_file());
    awf::testing::write_file(hosts_file(), hosts + kFaultyIp + " faulty.allowed.test\n");
  }

  // The fixture's arguments with the faulty origin's port allowed too.
  std::vector<std::string> args_with(const std::vector<std::string>& extra) const {
    std::vector<std::string> args = base_args();
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--allow-host-ports") args[i + 1] += "," + std::to_string(faulty_->port());
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void wait_ready() {
    ASSERT_TRUE(proxy_->wait_for_stderr("awf-proxy: ready", 15s)) << proxy_->stderr_text();
    auto listen = proxy_->wait_for_stderr("listening on 127.0.0.1:", 1s);
    ASSERT_TRUE(listen);
    port_ = static_cast<std::uint16_t>(std::stoi(listen->substr(listen->rfind(':') + 1)));
  }

  std::string faulty_url(const std::string& path) const {
    return "http://faulty.allowed.test:" + std::to_string(faulty_->port()) + path;
  }

  // One request on a fresh connection that the proxy closes after it.
  std::string one_request(const std::string& url, std::chrono::milliseconds timeout = 5s) const {
    auto c = TcpClient::connect("127.0.0.1", port_, 2s);
    if (!c) return "";
    if (!c->send("GET " + url + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) return "";
    return c->read_to_eof(timeout);
  }

  // The origin never saw a request whose path holds `marker`.
  void expect_origin_never_saw(const std::string& marker) const {
    for (const auto& head : web_->request_heads()) {
      EXPECT_EQ(head.find(marker), std::string::npos) << "a denied request reached the origin:\n" << head;
    }
  }

  std::unique_ptr<FaultyOrigin> faulty_;
};

// ----------------------------------------------------------- fd exhaustion

TEST_F(FaultsTest, OutOfDescriptorsNewClientsAreRefusedExistingOnesServedAndAcceptingResumes) {
  if (kSanitized) GTEST_SKIP() << "the sanitizer runtimes need fds of their own; run in the normal build";
  AWF_REQUIRE_FACILITY(awf::testing::run({"prlimit", "--version"}, 10s).exit_code == 0, "prlimit(1)");
  std::vector<std::string> args = {"prlimit", "--nofile=64:64"};
  for (const auto& a : args_with({"--allow-domains", "allowed.test", "--max-connections", "100000", "--threads", "1",
                                  "--admin-listen", "127.0.0.1:0"})) {
    args.push_back(a);
  }
  proxy_ = Process::spawn(args);
  wait_ready();
  if (HasFatalFailure()) return;

  // A client with a kept-alive connection (and its upstream connection kept
  // with it) from before the exhaustion.
  auto existing = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(existing);
  auto ask = [&](TcpClient& c, const std::string& url) {
    c.send("GET " + url + " HTTP/1.1\r\nHost: x\r\n\r\n");
    return outcome_of(c.read_response(5s));
  };
  ASSERT_EQ(ask(*existing, web_url("web.allowed.test", "/before")).status, 200);

  std::vector<TcpClient> hogs;
  for (int i = 0; i < 80; ++i) {
    auto c = TcpClient::connect("127.0.0.1", port_);
    if (c) hogs.push_back(std::move(*c));
  }
  auto warning = proxy_->wait_for_stderr("new clients are refused", 5s);
  ASSERT_TRUE(warning) << proxy_->stderr_text();
  EXPECT_NE(warning->find("Too many open files"), std::string::npos) << *warning;
  EXPECT_NE(warning->find("open-file limit 64"), std::string::npos) << *warning;

  // A new client is refused at once (closed), not left waiting in the
  // kernel's queue for a connection nobody serves.
  const auto t0 = std::chrono::steady_clock::now();
  const std::string refused = one_request(web_url("web.allowed.test", "/refused"), 5s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(refused.find("HTTP/1.1 200"), std::string::npos) << refused;

  // The existing client is served, and its denied request refused.
  EXPECT_EQ(ask(*existing, web_url("web.allowed.test", "/during")).status, 200);
  EXPECT_EQ(ask(*existing, web_url("other.test", "/denied-during")).status, 403);
  // The refusal dropped that client's upstream connection, a descriptor
  // free again: more clients take it, so the proxy is out of them again.
  for (int i = 0; i < 10; ++i) {
    auto c = TcpClient::connect("127.0.0.1", port_);
    if (c) hogs.push_back(std::move(*c));
  }

  // Clients knocking all the time: the accept loop must neither spin nor
  // flood the log (one warning a second at most).
  const double cpu0 = cpu_seconds(proxy_->pid());
  const std::size_t warnings0 = proxy_->stderr_count("new clients are refused");
  const auto knock_start = std::chrono::steady_clock::now();
  int knocks = 0;
  while (std::chrono::steady_clock::now() - knock_start < 1500ms) {
    auto c = TcpClient::connect("127.0.0.1", port_, 1s);
    if (c) c->send("GET " + web_url("web.allowed.test", "/knock") + " HTTP/1.1\r\nHost: x\r\n\r\n");
    ++knocks;
    std::this_thread::sleep_for(20ms);
  }
  const double cpu = cpu_seconds(proxy_->pid()) - cpu0;
  EXPECT_LT(cpu, 0.5) << "CPU seconds used in 1.5 s of refusing " << knocks << " clients";
  EXPECT_LE(proxy_->stderr_count("new clients are refused") - warnings0, 3u) << proxy_->stderr_text();
  EXPECT_EQ(web_->request_heads().size(), 2u) << "only the existing client's two requests reached the origin";

  // The hogs leave: new clients are accepted again.
  hogs.clear();
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    served = outcome_of(one_request(web_url("web.allowed.test", "/after"))).status == 200;
    if (!served) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(served) << proxy_->stderr_text();
  EXPECT_EQ(outcome_of(one_request(web_url("other.test", "/denied-after"))).status, 403);
  // The refusals are counted.
  auto admin = proxy_->wait_for_stderr("(admin)", 1s);
  ASSERT_TRUE(admin);
  const std::string admin_addr =
      admin->substr(admin->find("127.0.0.1:"), admin->find(" (admin)") - admin->find("127.0.0.1:"));
  const std::string text =
      awf::testing::run({"curl", "-sS", "--noproxy", "*", "http://" + admin_addr + "/metrics"}, 10s).out;
  const std::uint64_t refused_count =
      metric_value(text, "awf_proxy_connections_refused_total{cause=\"out_of_fds\"}");
  EXPECT_GE(refused_count, static_cast<std::uint64_t>(knocks)) << text;
  EXPECT_LT(refused_count, 400u) << text;
  EXPECT_EQ(ask(*existing, web_url("web.allowed.test", "/still")).status, 200);
  expect_origin_never_saw("/denied-");

  // Both denied requests are logged.
  std::vector<std::string> lines;
  for (int i = 0; i < 100; ++i) {
    lines = split(awf::testing::read_file(dir_.file("access.log")), '\n');
    if (logged_urls(lines).count(web_url("other.test", "/denied-after"))) break;
    std::this_thread::sleep_for(20ms);
  }
  const auto urls = logged_urls(lines);
  for (const char* path : {"/denied-during", "/denied-after"}) {
    EXPECT_EQ(urls.count(web_url("other.test", path)), 1u) << path;
  }
  for (const auto& line : lines) {
    if (line.find("other.test") != std::string::npos) {
      EXPECT_NE(line.find(" 403 TCP_DENIED:"), std::string::npos) << line;
    }
  }
}

// ------------------------------------------------ upstream faults mid-body

struct MidBodyFault {
  const char* name;
  std::string path;        // on the faulty origin
  std::size_t body_sent;   // body bytes the origin sent before failing
  int curl_exit;           // what curl says: 18 (partial file) or 56 (reset)
  const char* code;        // the logged result code
};

void PrintTo(const MidBodyFault& f, std::ostream* os) { *os << f.name; }

class MidBodyFaults : public FaultsTest, public ::testing::WithParamInterface<MidBodyFault> {};

TEST_P(MidBodyFaults, TheClientSeesAFailureTheLogRecordsItAndOthersAreServed) {
  const MidBodyFault& fault = GetParam();
  proxy_ = Process::spawn(args_with({"--allow-domains", "allowed.test", "--log-format", "squid", "--read-timeout", "1"}));
  wait_ready();
  if (HasFatalFailure()) return;

  // A denied client and an allowed one run alongside the failing transfer.
  std::atomic<bool> done{false};
  std::atomic<int> denied_403{0}, denied_other{0}, allowed_200{0}, allowed_other{0};
  std::thread others([&] {
    for (int i = 0; !done && i < 200; ++i) {
      const int denied = outcome_of(one_request(web_url("other.test", "/denied-" + std::to_string(i)))).status;
      ++(denied == 403 ? denied_403 : denied_other);
      const Outcome allowed = outcome_of(one_request(web_url("web.allowed.test", "/fine-" + std::to_string(i))));
      ++(allowed.status == 200 && allowed.complete ? allowed_200 : allowed_other);
    }
  });

  const auto t0 = std::chrono::steady_clock::now();
  const std::string body = dir_.file("body");
  RunResult r = curl({"-o", body, "-w", "%{http_code} %{size_download}", faulty_url(fault.path)});
  const auto took = std::chrono::steady_clock::now() - t0;
  done = true;
  others.join();

  // The client is told the transfer failed; it never gets a complete response.
  EXPECT_EQ(r.exit_code, fault.curl_exit) << r.out << "\n" << r.err;
  EXPECT_EQ(r.out.rfind("200 ", 0), 0u) << r.out;
  EXPECT_EQ(awf::testing::read_file(body).size(), fault.body_sent);
  if (fault.path.rfind("/stall/", 0) == 0) {
    EXPECT_GE(took, 900ms) << "ended before the read timeout";
    EXPECT_LT(took, 5s) << "the read timeout did not end the stall";
  }

  EXPECT_EQ(denied_other.load(), 0);
  EXPECT_EQ(allowed_other.load(), 0);
  EXPECT_GT(denied_403.load(), 0);
  expect_origin_never_saw("/denied-");

  // Its line: the status and bytes the client got, and the abort.
  const std::size_t expected_lines = 1 + static_cast<std::size_t>(denied_403 + allowed_200);
  const std::vector<std::string> lines = log_lines(expected_lines);
  EXPECT_EQ(lines.size(), expected_lines);
  int faulty_lines = 0, denied_lines = 0;
  for (const auto& line : lines) {
    if (line.find(" GET http://other.test:") != std::string::npos) {
      ++denied_lines;
      EXPECT_NE(line.find(" TCP_DENIED/403 "), std::string::npos) << line;
    }
    if (line.find(faulty_url(fault.path)) == std::string::npos) continue;
    ++faulty_lines;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(line, m, std::regex(R"( (\S+)/(\d{3}) (\d+) GET )"))) << line;
    EXPECT_EQ(m[1].str(), fault.code) << line;
    EXPECT_EQ(m[2].str(), "200") << line;
    const std::size_t bytes = std::stoul(m[3].str());
    EXPECT_GE(bytes, fault.body_sent) << "the head and the body bytes relayed: " << line;
    EXPECT_LT(bytes, fault.body_sent + 512) << line;
  }
  EXPECT_EQ(faulty_lines, 1);
  EXPECT_EQ(denied_lines, denied_403.load());
  EXPECT_TRUE(proxy_->running());
}

INSTANTIATE_TEST_SUITE_P(
    Proxy, MidBodyFaults,
    ::testing::Values(
        MidBodyFault{"ResetWithContentLength", "/reset/100000/20000", 20000, 18, "TCP_MISS_ABORTED"},
        MidBodyFault{"ResetChunked", "/chunked-reset/20000", 20000, 18, "TCP_MISS_ABORTED"},
        // A body that ends with the connection: only a reset tells the client.
        MidBodyFault{"ResetWithoutFraming", "/unframed-reset/20000", 20000, 56, "TCP_MISS_ABORTED"},
        MidBodyFault{"StallEndsAtTheReadTimeout", "/stall/100000/20000", 20000, 18, "TCP_MISS_TIMEDOUT_ABORTED"}),
    [](const ::testing::TestParamInfo<MidBodyFault>& p) { return std::string(p.param.name); });

// ------------------------------------------------------------- full disk

// Fills the file system holding `dir` with one file; its path.
std::string fill_disk(const std::string& dir) {
  const std::string path = dir + "/filler";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "";
  const std::string block(4096, 'f');
  for (int i = 0; i < 4096; ++i) {
    if (::write(fd, block.data(), block.size()) <= 0) break;
  }
  // The last page may take a few more bytes.
  while (::write(fd, "f", 1) == 1) {
  }
  ::close(fd);
  return path;
}

TEST_F(FaultsTest, AFullLogDiskLosesOnlyCountedLinesWhilePolicyHoldsAndWritingResumes) {
  AWF_REQUIRE_FACILITY(::geteuid() == 0, "root, to mount a tmpfs");
  const std::string logs = dir_.file("logs");
  ASSERT_EQ(::mkdir(logs.c_str(), 0750), 0);
  // A private mount namespace holds the 64 KiB tmpfs: gone with the proxy,
  // nothing left on the machine whatever happens to the test.
  std::string command = "mount -t tmpfs -o size=64k,mode=0750 awf-faults-logs " + logs + " && exec";
  for (const auto& a : args_with({"--allow-domains", "allowed.test", "--log-dir", logs, "--admin-listen", "127.0.0.1:0"})) {
    command += " '" + a + "'";
  }
  proxy_ = Process::spawn({"unshare", "--mount", "--propagation", "private", "sh", "-c", command});
  auto ready = proxy_->wait_for_stderr("awf-proxy: ready", 15s);
  AWF_REQUIRE_FACILITY(ready || proxy_->stderr_text().find("unshare") == std::string::npos,
                       "a mount namespace: " + proxy_->stderr_text());
  wait_ready();
  if (HasFatalFailure()) return;
  auto admin = proxy_->wait_for_stderr("(admin)", 1s);
  ASSERT_TRUE(admin);
  const std::string admin_addr = admin->substr(admin->find("127.0.0.1:"), admin->find(" (admin)") - admin->find("127.0.0.1:"));
  // The tmpfs as the proxy sees it, from outside its mount namespace.
  const std::string seen = "/proc/" + std::to_string(proxy_->pid()) + "/root" + logs;
  auto metrics = [&] {
    return awf::testing::run({"curl", "-sS", "--noproxy", "*", "http://" + admin_addr + "/metrics"}, 10s).out;
  };

  int total = 0;
  auto round = [&](const std::string& tag, int n) {
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(outcome_of(one_request(web_url("web.allowed.test", "/" + tag + "-allowed-" + std::to_string(i)))).status,
                200);
      EXPECT_EQ(outcome_of(one_request(web_url("other.test", "/" + tag + "-denied-" + std::to_string(i)))).status, 403);
      total += 2;
    }
  };
  auto lines_in = [&](const std::string& file) { return split(awf::testing::read_file(seen + "/" + file), '\n'); };
  auto wait_lines = [&](const std::string& file, std::size_t n) {
    for (int i = 0; i < 250 && lines_in(file).size() < n; ++i) std::this_thread::sleep_for(20ms);
    return lines_in(file);
  };

  round("before", 5);
  ASSERT_EQ(wait_lines("access.log", 10).size(), 10u);

  const std::string filler = fill_disk(seen);
  ASSERT_FALSE(filler.empty()) << std::strerror(errno);
  round("full", 20);
  ASSERT_TRUE(proxy_->wait_for_stderr("access.log: No space left on device; log lines are being lost", 5s))
      << proxy_->stderr_text();
  ASSERT_TRUE(proxy_->wait_for_stderr("audit.jsonl: No space left on device; log lines are being lost", 5s))
      << proxy_->stderr_text();
  round("still-full", 5);
  // The writer takes a batch at least every 50 ms.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(proxy_->stderr_count("log lines are being lost"), 2u) << "said once per file:\n" << proxy_->stderr_text();
  const std::string text = metrics();
  const std::uint64_t lost_access = metric_value(text, "awf_proxy_log_lines_lost_total{file=\"access.log\"}");
  const std::uint64_t lost_audit = metric_value(text, "awf_proxy_log_lines_lost_total{file=\"audit.jsonl\"}");
  // Every transaction is a line or a counted loss; a few lines may still
  // have fitted into the last page of the file.
  EXPECT_EQ(lines_in("access.log").size() + lost_access, 60u) << text;
  EXPECT_EQ(lines_in("audit.jsonl").size() + lost_audit, 60u) << text;
  // The last round came after both files said they lose lines: all of it lost.
  EXPECT_GE(lost_access, 10u) << text;

  // Space returns: writing resumes, and the loss is said with its count.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  round("after", 5);
  auto resumed = proxy_->wait_for_stderr("access.log is written again", 5s);
  ASSERT_TRUE(resumed) << proxy_->stderr_text();
  EXPECT_NE(resumed->find("; " + std::to_string(lost_access) + " log lines were lost"), std::string::npos) << *resumed;
  ASSERT_TRUE(proxy_->wait_for_stderr("audit.jsonl is written again", 5s)) << proxy_->stderr_text();

  const std::vector<std::string> access = wait_lines("access.log", 70 - lost_access);
  EXPECT_EQ(access.size() + lost_access, static_cast<std::size_t>(total));
  EXPECT_EQ(wait_lines("audit.jsonl", 70 - lost_audit).size() + lost_audit, static_cast<std::size_t>(total));
  // Only whole lines: every line parses, none holds two records.
  for (const auto& line : access) {
    const DetailedLine d = parse_detailed(line);
    EXPECT_TRUE(d.status == "200" || d.status == "403") << line;
    EXPECT_EQ(d.ua.substr(0, 1), "\"") << line;
    EXPECT_EQ(line.find("http://", line.find("http://") + 1), std::string::npos) << line;
  }
  for (const auto& line : lines_in("audit.jsonl")) {
    EXPECT_EQ(line.front(), '{') << line;
    EXPECT_EQ(line.back(), '}') << line;
    EXPECT_EQ(line.find("{", 1), std::string::npos) << line;
  }
  const auto urls = logged_urls(access);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(urls.count(web_url("other.test", "/after-denied-" + std::to_string(i))), 1u);
    EXPECT_EQ(urls.count(web_url("web.allowed.test", "/after-allowed-" + std::to_string(i))), 1u);
  }
  expect_origin_never_saw("-denied-");
  EXPECT_EQ(metric_value(metrics(), "awf_proxy_log_lines_lost_total{file=\"access.log\"}"), lost_access);
}

// ----------------------------------------------------------- signal storms

// Clients on fresh connections, each request on a path of its own: what each
// saw, by URL.
class Load {
 public:
  Load(std::uint16_t port, std::vector<std::function<std::string(int)>> urls) : port_(port) {
    for (std::size_t t = 0; t < urls.size(); ++t) {
      threads_.emplace_back([this, url = urls[t]] {
        for (int i = 0; !stop_ && i < 5000; ++i) {
          const std::string u = url(i);
          auto c = TcpClient::connect("127.0.0.1", port_, 2s);
          if (!c) {
            record(u, Outcome{});
            if (stop_on_refusal_) return;
            continue;
          }
          c->send("GET " + u + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
          const Outcome o = outcome_of(c->read_to_eof(10s));
          record(u, o);
          if (o.status == 0 && stop_on_refusal_) return;
        }
      });
    }
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  void stop_on_refusal() { stop_on_refusal_ = true; }
  std::map<std::string, Outcome> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  void record(const std::string& url, Outcome o) {
    std::lock_guard lock(mutex_);
    seen_[url] = o;
  }
  std::uint16_t port_;
  std::atomic<bool> stop_{false}, stop_on_refusal_{false};
  std::mutex mutex_;
  std::map<std::string, Outcome> seen_;
  std::vector<std::thread> threads_;
};

TEST_F(FaultsTest, ASighupStormUnderLoadLosesNoLineAndKeepsThePolicy) {
  const std::string list = dir_.file("allow.txt");
  awf::testing::write_file(list, "web.allowed.test\n");
  start_proxy({"--allow-domains-file", list});
  auto allowed = [this](const char* who) {
    return [this, who](int i) { return web_url("web.allowed.test", "/" + std::string(who) + "/" + std::to_string(i)); };
  };
  Load load(port_,
            {allowed("a"), allowed("b"),
             [this](int i) { return web_url("other.test", "/denied/" + std::to_string(i)); }});
  // 50 SIGHUPs in 2 s, a SIGUSR1 (log reopen) among every tenth.
  for (int i = 0; i < 50; ++i) {
    proxy_->signal(i % 10 == 5 ? SIGUSR1 : SIGHUP);
    std::this_thread::sleep_for(40ms);
  }
  load.stop();
  ASSERT_TRUE(proxy_->running()) << proxy_->stderr_text();
  EXPECT_GE(proxy_->stderr_count("policy reloaded"), 1u);
  EXPECT_EQ(proxy_->stderr_count("policy reload failed"), 0u) << proxy_->stderr_text();

  const auto seen = load.seen();
  std::size_t denied = 0;
  for (const auto& [url, o] : seen) {
    if (url.find("/denied/") != std::string::npos) {
      ++denied;
      EXPECT_EQ(o.status, 403) << url;
    } else {
      EXPECT_EQ(o.status, 200) << url;
      EXPECT_TRUE(o.complete) << url;
    }
  }
  EXPECT_GT(denied, 10u);
  EXPECT_GT(seen.size() - denied, 20u);
  expect_origin_never_saw("/denied/");

  // Every request logged exactly once.
  const std::vector<std::string> lines = log_lines(seen.size());
  EXPECT_EQ(lines.size(), seen.size());
  const auto urls = logged_urls(lines);
  for (const auto& [url, o] : seen) EXPECT_EQ(urls.count(url) ? urls.at(url) : 0, 1) << url;
  for (const auto& [url, n] : urls) EXPECT_EQ(n, 1) << "logged " << n << " times: " << url;

  // The reload still works: the last SIGHUP after a change is the policy.
  const std::size_t reloads = proxy_->stderr_count("policy reloaded");
  awf::testing::write_file(list, "web.allowed.test\nother.test\n");
  proxy_->signal(SIGHUP);
  for (int i = 0; i < 250 && proxy_->stderr_count("policy reloaded") == reloads; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(status_of(web_url("other.test", "/now-allowed")), 200);
  EXPECT_EQ(status_of(web_url("blocked.allowed.test", "/still-denied")), 403);
}

TEST_F(FaultsTest, SigtermUnderLoadLogsEveryCompletedTransactionExactlyOnce) {
  start_proxy({"--allow-domains", "web.allowed.test", "--shutdown-timeout", "5"});
  Load load(port_,
            {[this](int i) { return web_url("web.allowed.test", "/fast/a/" + std::to_string(i)); },
             [this](int i) { return web_url("web.allowed.test", "/fast/b/" + std::to_string(i)); },
             // 300 to 400 ms each: some are in flight when SIGTERM comes.
             [this](int i) { return web_url("web.allowed.test", "/slow/" + std::to_string(3000 + i)); },
             [this](int i) { return web_url("other.test", "/denied/" + std::to_string(i)); }});
  load.stop_on_refusal();
  std::this_thread::sleep_for(1200ms);
  proxy_->signal(SIGTERM);
  auto code = proxy_->wait(15s);
  load.stop();
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0) << proxy_->stderr_text();

  const auto seen = load.seen();
  const auto lines = split(awf::testing::read_file(dir_.file("access.log")), '\n');
  const auto urls = logged_urls(lines);
  std::size_t completed = 0, denied = 0;
  for (const auto& [url, o] : seen) {
    const bool is_denied = url.find("/denied/") != std::string::npos;
    if (is_denied && o.status != 0) {
      ++denied;
      EXPECT_EQ(o.status, 403) << url;
    }
    if (o.status == 0) continue;  // refused once the drain began: never a transaction
    EXPECT_TRUE(o.complete) << "an accepted request must finish within the drain: " << url;
    if (o.complete) ++completed;
    EXPECT_EQ(urls.count(url) ? urls.at(url) : 0, 1) << "completed, so logged exactly once: " << url;
  }
  for (const auto& [url, n] : urls) EXPECT_EQ(n, 1) << "logged " << n << " times: " << url;
  EXPECT_GT(completed, 20u);
  EXPECT_GT(denied, 5u);
  expect_origin_never_saw("/denied/");
  for (const auto& line : lines) {
    if (line.find("other.test") != std::string::npos) {
      EXPECT_NE(line.find(" 403 TCP_DENIED:"), std::string::npos) << line;
    }
  }
}

}  // namespace
}  // namespace awf::proxy_test
