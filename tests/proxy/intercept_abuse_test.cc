// Attacks on the DNS and TLS interception front ends, run against the real
// awf-proxy on loopback: DNS-over-TCP clients that trickle their queries or
// crowd out HTTP clients, ECH configurations in HTTPS answers, ClientHellos
// hiding their name with ECH, and refused queries repeated to flood the log.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "../intercept/hello_builder.h"
#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Clock = std::chrono::steady_clock;

void put16(Bytes& b, std::size_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}

// A query as dig sends it without EDNS: RD set, one question.
Bytes query_for(const std::string& name, std::uint16_t id, std::uint16_t qtype) {
  Bytes q;
  put16(q, id);
  q.insert(q.end(), {0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0});
  std::size_t start = 0;
  while (start < name.size()) {
    const std::size_t dot = std::min(name.find('.', start), name.size());
    q.push_back(static_cast<std::uint8_t>(dot - start));
    q.insert(q.end(), name.begin() + static_cast<std::ptrdiff_t>(start), name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  q.push_back(0);
  put16(q, qtype);
  put16(q, 1);
  return q;
}

std::size_t question_end(const Bytes& query) {
  std::size_t at = 12;
  while (at < query.size() && query[at] != 0) at += 1 + query[at];
  return at + 5;
}

// The answer to `query` (an HTTPS question) that a CDN's resolver gives:
// alpn, ipv4hint, ech and ipv6hint; or the same record without ech.
Bytes https_answer_to(const Bytes& query, bool with_ech) {
  Bytes a(query.begin(), query.begin() + static_cast<std::ptrdiff_t>(question_end(query)));
  a[2] = 0x81;  // QR, RD
  a[3] = 0x80;  // RA, NOERROR
  a[4] = 0, a[5] = 1, a[6] = 0, a[7] = 1;
  a[8] = a[9] = a[10] = a[11] = 0;
  Bytes rdata = {0, 1, 0};                            // priority 1, target "."
  rdata.insert(rdata.end(), {0, 1, 0, 3, 2, 'h', '2'});  // alpn=h2
  rdata.insert(rdata.end(), {0, 4, 0, 4, 127, 0, 0, 11});  // ipv4hint
  if (with_ech) {
    rdata.insert(rdata.end(), {0, 5, 0, 50});
    rdata.insert(rdata.end(), 50, 0xec);
  }
  rdata.insert(rdata.end(), {0, 6, 0, 16, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});  // ipv6hint
  a.insert(a.end(), {0xc0, 0x0c, 0, 65, 0, 1, 0, 0, 0x01, 0x2c});
  put16(a, rdata.size());
  a.insert(a.end(), rdata.begin(), rdata.end());
  return a;
}

// The upstream resolver of the test, on 127.0.0.1 over UDP: HTTPS questions
// get https_answer_to(query, true), A questions for *.allowed.test
// 127.0.0.11, anything else NXDOMAIN.
class ScriptedUpstream {
 public:
  ScriptedUpstream() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    [[maybe_unused]] int rc = ::pipe2(stop_, O_CLOEXEC);
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedUpstream() {
    [[maybe_unused]] auto n = ::write(stop_[1], "x", 1);
    thread_.join();
    for (int f : {fd_, stop_[0], stop_[1]}) ::close(f);
  }
  std::uint16_t port() const { return port_; }
  int https_answers() const { return https_answers_; }

 private:
  void run() {
    for (;;) {
      pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, 1000) <= 0) continue;
      if (p[1].revents) return;
      std::uint8_t buf[1500];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 17) continue;
      const Bytes q(buf, buf + n);
      const std::size_t end = question_end(q);
      if (end > q.size()) continue;
      const std::uint16_t qtype = static_cast<std::uint16_t>((q[end - 4] << 8) | q[end - 3]);
      Bytes a;
      if (qtype == 65) {
        a = https_answer_to(q, true);
        ++https_answers_;
      } else {
        a.assign(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(end));
        a[2] = 0x81;
        a[6] = a[7] = a[8] = a[9] = a[10] = a[11] = 0;
        const std::string name(reinterpret_cast<const char*>(q.data()) + 12, end - 12);
        if (qtype == 1 && name.find("\x07" "allowed\x04" "test") != std::string::npos) {
          a[3] = 0x80;
          a[7] = 1;
          a.insert(a.end(), {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 127, 0, 0, 11});
        } else {
          a[3] = 0x83;
        }
      }
      ::sendto(fd_, a.data(), a.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }
  int fd_ = -1;
  int stop_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  std::atomic<int> https_answers_{0};
  std::thread thread_;
};

// A UDP client socket connected to the proxy's DNS port.
class DnsClient {
 public:
  explicit DnsClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  ~DnsClient() { ::close(fd_); }
  // Sends `query` and returns the answer with its id (empty at the deadline).
  Bytes ask(const Bytes& query, std::chrono::milliseconds timeout = 3s) {
    ::send(fd_, query.data(), query.size(), 0);
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return {};
      std::uint8_t buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n >= 2 && buf[0] == query[0] && buf[1] == query[1]) return Bytes(buf, buf + n);
    }
  }

 private:
  int fd_ = -1;
};

// True when the peer closed (FIN or RST) within `timeout`; bytes are dropped.
bool closed_within(const TcpClient& c, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{c.fd(), POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[512];
    const ssize_t n = ::recv(c.fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
  }
}

class InterceptAbuseTest : public ProxyTest {
 protected:
  // `upstream_port` 0: the scripted upstream.
  void start(std::vector<std::string> extra = {}, std::uint16_t upstream_port = 0) {
    if (upstream_port == 0) upstream_port = upstream_.port();
    std::vector<std::string> args = {"--allow-domains", "allowed.test", "--listen-dns", "127.0.0.1:0",
                                     "--listen-tls-intercept", "127.0.0.1:0",
                                     "--dns-servers", "127.0.0.1:" + std::to_string(upstream_port)};
    args.insert(args.end(), extra.begin(), extra.end());
    start_proxy(args);
    dns_port_ = port_of("(dns-tcp)");
    tls_port_ = port_of("(tls-intercept)");
    ASSERT_NE(dns_port_, 0);
    ASSERT_NE(tls_port_, 0);
  }

  std::uint16_t port_of(const std::string& kind) const {
    for (const auto& line : split(proxy_->stderr_text(), '\n')) {
      if (line.find("listening on 127.0.0.1:") == std::string::npos || line.find(kind) == std::string::npos) continue;
      return static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
    }
    return 0;
  }

  // Ends the proxy the way TearDown does, so every log line is written.
  void stop_proxy() {
    proxy_->signal(SIGTERM);
    ASSERT_EQ(proxy_->wait(15s), std::optional<int>(0)) << proxy_->stderr_text();
  }

  ScriptedUpstream upstream_;
  std::uint16_t dns_port_ = 0, tls_port_ = 0;
};

// ------------------------------------------------ slow clients, slots

TEST_F(InterceptAbuseTest, ADnsTcpClientTricklingItsQueryIsCutAtTheDeadline) {
  start({"--dns-tcp-timeout", "1"});
  Bytes framed;
  const Bytes q = query_for("www.allowed.test", 0x4242, 1);
  put16(framed, q.size());
  framed.insert(framed.end(), q.begin(), q.end());
  auto c = TcpClient::connect("127.0.0.1", dns_port_);
  ASSERT_TRUE(c);
  // A byte every 300 ms would take the whole query ~10 s; each byte used to
  // push the idle deadline back, so the connection lived as long as the
  // trickle went on.
  const auto t0 = Clock::now();
  bool closed = false;
  std::size_t sent = 0;
  while (!closed && sent < framed.size() && Clock::now() - t0 < 6s) {
    c->send(std::string(1, static_cast<char>(framed[sent++])));
    closed = closed_within(*c, 300ms);
  }
  const auto took = Clock::now() - t0;
  EXPECT_TRUE(closed) << "still open after " << sent << " of " << framed.size() << " bytes";
  EXPECT_LT(sent, framed.size());
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 4s);
  EXPECT_TRUE(proxy_->wait_for_stderr("query not complete in time", 2s)) << proxy_->stderr_text();
}

TEST_F(InterceptAbuseTest, AWholeQueryStillGetsItsAnswerAndTheNextOneItsOwnDeadline) {
  start({"--dns-tcp-timeout", "1"});
  auto c = TcpClient::connect("127.0.0.1", dns_port_);
  ASSERT_TRUE(c);
  for (std::uint16_t id : {0x101, 0x102}) {
    const Bytes q = query_for("www.allowed.test", id, 1);
    Bytes framed;
    put16(framed, q.size());
    framed.insert(framed.end(), q.begin(), q.end());
    // Half now, half after 600 ms: within the second each query has.
    const std::size_t half = framed.size() / 2;
    c->send(std::string(framed.begin(), framed.begin() + static_cast<std::ptrdiff_t>(half)));
    std::this_thread::sleep_for(600ms);
    c->send(std::string(framed.begin() + static_cast<std::ptrdiff_t>(half), framed.end()));
    const std::string length = c->read_exactly(2, 3s);
    ASSERT_EQ(length.size(), 2u) << "query " << id;
    const std::size_t n = (static_cast<std::uint8_t>(length[0]) << 8) | static_cast<std::uint8_t>(length[1]);
    const std::string answer = c->read_exactly(n, 3s);
    ASSERT_EQ(answer.size(), n);
    EXPECT_EQ((static_cast<std::uint8_t>(answer[0]) << 8) | static_cast<std::uint8_t>(answer[1]), id);
  }
}

TEST_F(InterceptAbuseTest, DnsTcpClientsCannotTakeTheSlotsHttpClientsNeed) {
  start({"--max-connections", "4", "--threads", "1", "--dns-tcp-timeout", "30"});
  // Six DNS-over-TCP clients against four slots: a quarter of them (one)
  // is DNS's; the rest are closed at accept.
  std::vector<TcpClient> dns;
  for (int i = 0; i < 6; ++i) {
    auto c = TcpClient::connect("127.0.0.1", dns_port_);
    ASSERT_TRUE(c);
    dns.push_back(std::move(*c));
  }
  std::size_t refused = 0;
  std::vector<TcpClient*> kept;
  for (auto& c : dns) {
    if (closed_within(c, 500ms)) ++refused;
    else kept.push_back(&c);
  }
  EXPECT_EQ(refused, 5u);
  EXPECT_TRUE(proxy_->wait_for_stderr("--dns-tcp-max-connections 1 reached", 2s)) << proxy_->stderr_text();
  // The one kept trickles a query (first byte of its length), holding its slot.
  for (auto* c : kept) c->send(std::string(1, '\0'));
  for (int round = 0; round < 3; ++round) {
    const std::string resp =
        raw("GET " + web_url("web.allowed.test") + " HTTP/1.1\r\nHost: web.allowed.test\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << "round " << round << ": " << resp;
  }
  for (auto* c : kept) EXPECT_FALSE(closed_within(*c, 10ms));
}

TEST_F(InterceptAbuseTest, ADnsTcpShareAsLargeAsTheWholeIsRefusedAtStart) {
  RunResult r = awf::testing::run({AWF_PROXY_BIN, "--listen", "127.0.0.1:0", "--max-connections", "8",
                                   "--dns-tcp-max-connections", "8"},
                                  10s);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--dns-tcp-max-connections 8 must be below --max-connections 8"), std::string::npos) << r.err;
}

// ------------------------------------------------------------------ ECH

TEST_F(InterceptAbuseTest, HttpsAnswersReachTheClientWithoutTheirEchConfig) {
  start();
  DnsClient client(dns_port_);
  const Bytes q = query_for("www.allowed.test", 0x5150, 65);
  const Bytes answer = client.ask(q);
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(upstream_.https_answers(), 1);
  // The upstream's answer, under the client's id, with only ech missing.
  EXPECT_EQ(answer, https_answer_to(q, false));
  EXPECT_NE(answer, https_answer_to(q, true));
}

TEST_F(InterceptAbuseTest, AClientHelloWithEchIsMarkedInBothLogs) {
  start();
  using namespace awf::intercept::test;
  const Bytes ech_hello = in_records(client_hello_message(
      {sni_extension({"denied.test"}), supported_versions_tls13(), ech_extension()}));
  const Bytes plain_hello = typical_hello("other.test");
  for (const Bytes* hello : {&ech_hello, &plain_hello}) {
    auto c = TcpClient::connect("127.0.0.1", tls_port_);
    ASSERT_TRUE(c);
    c->send(std::string(hello->begin(), hello->end()));
    bool eof = false;
    const std::string alert = c->read_to_eof(5s, &eof);
    EXPECT_TRUE(eof);
    EXPECT_EQ(alert.size(), 7u);  // the access_denied alert record
  }
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  DetailedLine ech = parse_detailed(lines[0]), plain = parse_detailed(lines[1]);
  EXPECT_EQ(ech.url, "denied.test:443");
  EXPECT_EQ(ech.code, "TCP_DENIED:HIER_NONE_ECH");
  EXPECT_EQ(plain.url, "other.test:443");
  EXPECT_EQ(plain.code, "TCP_DENIED:HIER_NONE");
  auto audit = log_lines(2, "audit.jsonl");
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_NE(audit[0].find("\"url\":\"denied.test:443\""), std::string::npos) << audit[0];
  EXPECT_NE(audit[0].find(",\"ech\":true}"), std::string::npos) << audit[0];
  EXPECT_EQ(audit[1].find("ech"), std::string::npos) << audit[1];
}

// -------------------------------------------------------- log flooding

TEST_F(InterceptAbuseTest, AThousandIdenticalRefusedQueriesMakeAFewLinesWithTheirCount) {
  start();
  DnsClient client(dns_port_);
  int answered = 0;
  for (int i = 0; i < 1000; ++i) {
    const Bytes answer = client.ask(query_for("exfil.denied.test", static_cast<std::uint16_t>(i + 1), 16));
    if (answer.size() > 3 && (answer[3] & 0x0f) == 5) ++answered;  // REFUSED
  }
  EXPECT_EQ(answered, 1000);
  stop_proxy();
  const auto lines = log_lines(1);
  const auto audit = log_lines(1, "audit.jsonl");
  // Without folding: 1000 lines in each file and 1000 on stderr. With a
  // 10 s window, two per window that the loop touched.
  EXPECT_LE(lines.size(), 6u);
  EXPECT_EQ(audit.size(), lines.size());
  EXPECT_LE(proxy_->stderr_count("refused dns://exfil.denied.test/TXT"), 6u);
  std::uint64_t queries = 0;
  for (const auto& line : lines) {
    const DetailedLine d = parse_detailed(line);
    EXPECT_EQ(d.url, "dns://exfil.denied.test/TXT") << line;
    EXPECT_EQ(d.code, "TCP_DENIED:HIER_NONE") << line;
    if (d.ua.rfind("\"repeated ", 0) == 0) {
      queries += std::stoull(d.ua.substr(10));
    } else {
      EXPECT_EQ(d.ua, "\"-\"") << line;
      ++queries;
    }
  }
  EXPECT_EQ(queries, 1000u);
  std::uint64_t audited = 0;
  for (const auto& line : audit) {
    const auto at = line.find("\"repeated\":");
    audited += at == std::string::npos ? 1 : std::stoull(line.substr(at + 11));
  }
  EXPECT_EQ(audited, 1000u);
}

TEST_F(InterceptAbuseTest, AnUpstreamFailingEveryQueryIsReportedOnceASecondNotOncePerQuery) {
  // A UDP port nobody listens on: every forwarded query fails at once
  // (ICMP port unreachable) and gets SERVFAIL.
  std::uint16_t dead_port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    dead_port = ntohs(a.sin_port);
    ::close(fd);
  }
  start({"--threads", "1"}, dead_port);
  DnsClient client(dns_port_);
  int servfail = 0;
  const auto t0 = Clock::now();
  for (int i = 0; i < 300; ++i) {
    const Bytes answer = client.ask(query_for("www.allowed.test", static_cast<std::uint16_t>(i + 1), 1));
    if (answer.size() > 3 && (answer[3] & 0x0f) == 2) ++servfail;
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count();
  EXPECT_EQ(servfail, 300);
  const std::size_t warnings = proxy_->stderr_count("dns A www.allowed.test");
  EXPECT_GE(warnings, 1u) << proxy_->stderr_text();
  EXPECT_LE(warnings, static_cast<std::size_t>(seconds + 2)) << proxy_->stderr_text();
}

}  // namespace
}  // namespace awf::proxy_test
