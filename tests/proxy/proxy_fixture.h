// The integration-test fixture: origins on 127.0.0.x, a hosts file naming
// them, the real awf-proxy started with --listen 127.0.0.1:0, helpers to run
// curl through it and to read its log files line by line.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "awf/testing/dns_stub.h"
#include "awf/testing/files.h"
#include "awf/testing/net.h"
#include "awf/testing/origin.h"
#include "awf/testing/process.h"

namespace awf::proxy_test {

using namespace std::chrono_literals;
using awf::testing::Origin;
using awf::testing::Process;
using awf::testing::RunResult;
using awf::testing::TcpClient;
using awf::testing::TempDir;

#ifdef AWF_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) {
    if (!cur.empty()) out.push_back(cur);
  }
  return out;
}

// The value of a response header (its first occurrence), "" when absent.
inline std::string header_value(const std::string& response, const std::string& name) {
  const std::string head = response.substr(0, response.find("\r\n\r\n"));
  const std::string key = "\r\n" + name + ": ";
  const auto at = head.find(key);
  if (at == std::string::npos) return "";
  const auto from = at + key.size();
  return head.substr(from, head.find("\r\n", from) - from);
}

// Fields of a firewall_detailed line (the quoted UA is one field). Each has
// an initializer so that an expected line may name only some of them.
struct DetailedLine {
  std::string ts{}, client{}, host{}, dest{}, version{}, method{}, status{}, code{}, url{}, ua{};
};

inline DetailedLine parse_detailed(const std::string& line) {
  DetailedLine d;
  std::istringstream in(line);
  in >> d.ts >> d.client >> d.host >> d.dest >> d.version >> d.method >> d.status >> d.code >> d.url;
  std::string rest;
  std::getline(in, rest);
  if (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
  d.ua = rest;
  return d;
}

// Checks the fields of a logged line that `want` names; those it leaves
// empty may hold anything.
inline void expect_fields(const DetailedLine& got, const DetailedLine& want) {
  static constexpr std::pair<const char*, std::string DetailedLine::*> kFields[] = {
      {"ts", &DetailedLine::ts},         {"client", &DetailedLine::client}, {"host", &DetailedLine::host},
      {"dest", &DetailedLine::dest},     {"version", &DetailedLine::version}, {"method", &DetailedLine::method},
      {"status", &DetailedLine::status}, {"code", &DetailedLine::code},     {"url", &DetailedLine::url},
      {"ua", &DetailedLine::ua}};
  for (const auto& [name, field] : kFields) {
    if (!(want.*field).empty()) {
      EXPECT_EQ(got.*field, want.*field) << "the logged " << name;
    }
  }
}

class ProxyTest : public ::testing::Test {
 protected:
  // Names used by the tests, all mapped to our origins by the hosts file.
  static constexpr const char* kWebIp = "127.0.0.11";
  static constexpr const char* kEchoIp = "127.0.0.12";
  static constexpr const char* kTlsIp = "127.0.0.13";

  void SetUp() override {
    web_ = Origin::start({kWebIp, Origin::Kind::http, ""});
    echo_ = Origin::start({kEchoIp, Origin::Kind::echo, ""});
    tls_ = Origin::start({kTlsIp, Origin::Kind::https, dir_.path()});
    ASSERT_TRUE(web_ && echo_ && tls_);
    refused_port_ = awf::testing::unused_port(kWebIp);
    awf::testing::write_file(hosts_file(),
                             std::string(kWebIp) + " web.allowed.test api.allowed.test blocked.allowed.test other.test "
                             "http-only.test https-only.test\n" +
                                 kEchoIp + " echo.allowed.test\n" + kTlsIp + " secure.allowed.test\n");
  }

  // Every test ends with a clean drain: exit 0, nothing from the sanitizers.
  void TearDown() override {
    if (!proxy_) return;
    proxy_->signal(SIGTERM);
    auto code = proxy_->wait(15s);
    EXPECT_EQ(code, std::optional<int>(0)) << proxy_->stderr_text();
    EXPECT_EQ(proxy_->stderr_text().find("Sanitizer"), std::string::npos) << proxy_->stderr_text();
    EXPECT_EQ(proxy_->stderr_text().find("runtime error"), std::string::npos) << proxy_->stderr_text();
  }

  std::string hosts_file() const { return dir_.file("hosts"); }
  std::string log_dir() const { return dir_.path(); }

  std::string ports() const {
    return std::to_string(web_->port()) + "," + std::to_string(echo_->port()) + "," + std::to_string(tls_->port()) +
           "," + std::to_string(refused_port_);
  }

  std::vector<std::string> base_args() const {
    return {AWF_PROXY_BIN,
            "--listen", "127.0.0.1:0",
            "--hosts-file", hosts_file(),
            "--allow-private-ranges", "127.0.0.0/8",
            "--enable-host-access", "--allow-host-ports", ports(),
            "--log-dir", log_dir(),
            "--threads", "2"};
  }

  // Starts awf-proxy with the base arguments plus `extra`; waits for `ready`.
  void start_proxy(std::vector<std::string> extra = {"--allow-domains", "allowed.test"}, bool with_base = true) {
    std::vector<std::string> args = with_base ? base_args() : std::vector<std::string>{AWF_PROXY_BIN};
    args.insert(args.end(), extra.begin(), extra.end());
    proxy_ = Process::spawn(args);
    auto line = proxy_->wait_for_stderr("awf-proxy: ready", 15s);
    ASSERT_TRUE(line) << proxy_->stderr_text();
    auto listen = proxy_->wait_for_stderr("listening on 127.0.0.1:", 1s);
    ASSERT_TRUE(listen);
    port_ = static_cast<std::uint16_t>(std::stoi(listen->substr(listen->rfind(':') + 1)));
  }

  std::string proxy_addr() const { return "127.0.0.1:" + std::to_string(port_); }

  RunResult curl(std::vector<std::string> args, std::chrono::milliseconds timeout = 60s) const {
    std::vector<std::string> argv = {"curl", "-sS", "--max-time", "50", "-x", proxy_addr(), "--noproxy", ""};
    argv.insert(argv.end(), args.begin(), args.end());
    return awf::testing::run(argv, timeout);
  }

  // curl's status code for a URL (the body goes to `body_file` or is dropped).
  int status_of(const std::string& url, std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"-o", "/dev/null", "-w", "%{http_code}"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(url);
    RunResult r = curl(args);
    return r.out.empty() ? -1 : std::stoi(r.out);
  }

  std::string web_url(const std::string& host, const std::string& path = "/") const {
    return "http://" + host + ":" + std::to_string(web_->port()) + path;
  }

  // Waits until access.log holds at least n lines; returns them.
  std::vector<std::string> log_lines(std::size_t n, const std::string& file = "access.log",
                                     std::chrono::milliseconds timeout = 10s) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<std::string> lines;
    for (;;) {
      lines = split(awf::testing::read_file(dir_.file(file)), '\n');
      if (lines.size() >= n || std::chrono::steady_clock::now() > deadline) return lines;
      std::this_thread::sleep_for(20ms);
    }
  }

  // The access log's only line, parsed, once it is there. The test fails,
  // and every field is empty, when the log holds another number of lines.
  DetailedLine only_log_line() const {
    const std::vector<std::string> lines = log_lines(1);
    EXPECT_EQ(lines.size(), 1u) << "access.log:\n" << awf::testing::read_file(dir_.file("access.log"));
    return lines.size() == 1 ? parse_detailed(lines[0]) : DetailedLine{};
  }

  // Sends a raw request through a fresh connection; returns the response.
  std::string raw(const std::string& request, std::chrono::milliseconds timeout = 5s) const {
    auto c = TcpClient::connect("127.0.0.1", port_);
    if (!c) return "connect failed";
    c->send(request);
    return c->read_response(timeout);
  }

  TempDir dir_;
  std::unique_ptr<Origin> web_, echo_, tls_;
  std::uint16_t refused_port_ = 0;
  std::unique_ptr<Process> proxy_;
  std::uint16_t port_ = 0;
};

}  // namespace awf::proxy_test
