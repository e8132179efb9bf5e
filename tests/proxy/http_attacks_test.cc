// Integration tests that play a hostile agent against the real awf-proxy's
// HTTP front ends (forward and http-intercept): request smuggling through
// Connection, upstream connections out of step, a Host that disguises the
// destination in the logs, blank lines before the request line, bytes that
// are not UTF-8 in audit.jsonl. Each performs the attack and checks that the
// origin saw only what the proxy decided and logged.
#include <algorithm>
#include <map>

#include "proxy_fixture.h"

namespace awf::proxy_test {
namespace {

// The request an agent hides in a body: a path on a host the policy denies.
constexpr std::string_view kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: blocked.test\r\n\r\n";

std::string hex(std::size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The URL an access-log line shows for a request head as an origin received
// it: http://Host + path, the query cut after '?' (strip_query_terms).
std::string logged_url_of(const std::string& head) {
  const auto sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
  std::string target = head.substr(sp1 + 1, sp2 - sp1 - 1);
  if (auto q = target.find('?'); q != std::string::npos) target = target.substr(0, q + 1);
  const std::string l = lower(head);
  const auto h = l.find("\r\nhost: ");
  if (h == std::string::npos) return "(no host) " + target;
  const auto eol = head.find("\r\n", h + 2);
  return "http://" + lower(head.substr(h + 8, eol - h - 8)) + target;
}

class HttpAttackTest : public ProxyTest {
 protected:
  // Every request the origin parsed off its socket was parsed, decided and
  // logged by the proxy: same method, same host and path, one log line each.
  void expect_origin_saw_only_logged_requests() {
    const std::vector<std::string> heads = web_->request_heads();
    std::multimap<std::string, std::string> logged;  // url -> method
    for (const auto& line : log_lines(heads.size())) {
      DetailedLine d = parse_detailed(line);
      logged.emplace(d.url, d.method);
    }
    for (const auto& head : heads) {
      const std::string method = head.substr(0, head.find(' '));
      const std::string url = logged_url_of(head);
      auto range = logged.equal_range(url);
      auto it = range.first;
      while (it != range.second && it->second != method) ++it;
      ASSERT_TRUE(it != range.second) << "the origin received a request the proxy never logged:\n"
                                  << head << "\naccess.log:\n"
                                  << awf::testing::read_file(dir_.file("access.log"));
      logged.erase(it);
    }
  }

  std::uint16_t http_intercept_port() const {
    for (const auto& line : split(proxy_->stderr_text(), '\n')) {
      if (line.find("listening on 127.0.0.1:") == std::string::npos) continue;
      if (line.find("(http-intercept)") == std::string::npos) continue;
      const auto colon = line.rfind(':');
      return static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
    }
    return 0;
  }

  std::string web_authority(const std::string& host) const { return host + ":" + std::to_string(web_->port()); }
};

// The log line with this status. I/O threads write records in their own
// order, so tests find lines by content, not position.
DetailedLine line_with_status(const std::vector<std::string>& lines, const std::string& status) {
  for (const auto& line : lines) {
    DetailedLine d = parse_detailed(line);
    if (d.status == status) return d;
  }
  ADD_FAILURE() << "no log line with status " << status;
  return {};
}

struct ConnectionSmuggle {
  const char* name;
  const char* header;  // what Connection names, as the 400 body names it
};
void PrintTo(const ConnectionSmuggle& c, std::ostream* os) { *os << c.name; }

class ConnectionListsAFramingHeader : public HttpAttackTest,
                                      public ::testing::WithParamInterface<ConnectionSmuggle> {
 protected:
  // A request whose body, once the header Connection names is dropped,
  // reads as a second request to the origin.
  std::string attack() const {
    const std::string header = GetParam().header;
    const std::string line = "POST " + web_url("web.allowed.test", "/upload") + " HTTP/1.1\r\nHost: web.allowed.test\r\n";
    if (header == "Content-Length") {
      return line + "Connection: keep-alive, content-length\r\nContent-Length: " + std::to_string(kSmuggled.size()) +
             "\r\n\r\n" + std::string(kSmuggled);
    }
    if (header == "Transfer-Encoding") {
      return line + "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n" + hex(kSmuggled.size()) +
             "\r\n" + std::string(kSmuggled) + "\r\n0\r\n\r\n";
    }
    return "GET " + web_url("web.allowed.test", "/echo") + " HTTP/1.1\r\nHost: web.allowed.test\r\nConnection: Host\r\n\r\n";
  }
};

TEST_P(ConnectionListsAFramingHeader, IsRefusedAndTheOriginSeesOnlyLoggedRequests) {
  start_proxy({"--allow-domains", "allowed.test", "--threads", "1"});
  auto attacker = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(attacker);
  ASSERT_TRUE(attacker->send(attack()));
  const std::string refused = attacker->read_response(5s);
  EXPECT_EQ(refused.rfind("HTTP/1.1 400", 0), 0u) << refused;
  EXPECT_NE(refused.find(std::string("Connection lists ") + GetParam().header), std::string::npos) << refused;
  // Another client right after, through the same thread's upstream pool,
  // gets the answer to its own request.
  auto victim = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(victim);
  ASSERT_TRUE(victim->send("GET " + web_url("web.allowed.test", "/echo?v=1") + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string answer = victim->read_response(5s);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_NE(answer.find("GET /echo?v=1 HTTP/1.1"), std::string::npos) << answer;

  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  DetailedLine d = line_with_status(lines, "400");
  EXPECT_EQ(d.code, "NONE_NONE:HIER_NONE");
  EXPECT_EQ(d.url, "error:invalid-request");
  for (const auto& head : web_->request_heads()) EXPECT_EQ(head.find("/smuggled"), std::string::npos) << head;
  expect_origin_saw_only_logged_requests();
}

INSTANTIATE_TEST_SUITE_P(Requests, ConnectionListsAFramingHeader,
                         ::testing::Values(ConnectionSmuggle{"ContentLength", "Content-Length"},
                                           ConnectionSmuggle{"TransferEncoding", "Transfer-Encoding"},
                                           ConnectionSmuggle{"Host", "Host"}),
                         [](const ::testing::TestParamInfo<ConnectionSmuggle>& p) { return std::string(p.param.name); });

// An origin that sends a response nobody asked for (what an origin does
// after reading a body as a second request) must not have it taken as the
// answer to the next request: neither the same client's on its kept
// connection nor another client's through the pool.
class UnaskedForResponse : public HttpAttackTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(UnaskedForResponse, NeverAnswersTheNextRequest) {
  start_proxy({"--allow-domains", "allowed.test", "--threads", "1"});
  const std::string first = "GET " + web_url("web.allowed.test", GetParam()) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string echo = "GET " + web_url("web.allowed.test", "/echo") + " HTTP/1.1\r\nHost: x\r\n\r\n";
  {
    auto c = TcpClient::connect("127.0.0.1", port_);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(first));
    EXPECT_EQ(c->read_response(5s).rfind("HTTP/1.1 2", 0), 0u);
    std::this_thread::sleep_for(400ms);  // the stray response is in the upstream socket now
    ASSERT_TRUE(c->send(echo));
    const std::string r = c->read_response(5s);
    EXPECT_NE(r.find("GET /echo HTTP/1.1"), std::string::npos) << r;
    EXPECT_EQ(r.find("stale"), std::string::npos) << r;
  }
  {
    auto c = TcpClient::connect("127.0.0.1", port_);
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(first));
    EXPECT_EQ(c->read_response(5s).rfind("HTTP/1.1 2", 0), 0u);
  }
  std::this_thread::sleep_for(400ms);
  auto other = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->send(echo));
  const std::string r = other->read_response(5s);
  EXPECT_NE(r.find("GET /echo HTTP/1.1"), std::string::npos) << r;
  EXPECT_EQ(r.find("stale"), std::string::npos) << r;
  expect_origin_saw_only_logged_requests();
}

INSTANTIATE_TEST_SUITE_P(Origins, UnaskedForResponse, ::testing::Values("/twice", "/twice204"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param).substr(1);
                         });

// On the http-intercept listener an absolute-form target decides where the
// request goes. A Host naming another (allowed) host would put that name in
// access.log and audit.jsonl instead: refused.
TEST_F(HttpAttackTest, InterceptedAbsoluteTargetAndHostMustNameTheSameDestination) {
  start_proxy({"--allow-domains", "allowed.test", "--listen-http-intercept", "127.0.0.1:0"});
  const std::uint16_t port = http_intercept_port();
  ASSERT_NE(port, 0);
  auto disguised = TcpClient::connect("127.0.0.1", port);
  ASSERT_TRUE(disguised);
  disguised->send("GET " + web_url("api.allowed.test", "/echo") + " HTTP/1.1\r\nHost: " +
                  web_authority("web.allowed.test") + "\r\n\r\n");
  const std::string refused = disguised->read_response(5s);
  EXPECT_EQ(refused.rfind("HTTP/1.1 400", 0), 0u) << refused;
  EXPECT_EQ(web_->requests(), 0u);

  // Agreeing names (case and a trailing dot aside) go through, and the log
  // names the destination used.
  auto honest = TcpClient::connect("127.0.0.1", port);
  ASSERT_TRUE(honest);
  honest->send("GET " + web_url("API.allowed.test", "/echo") + " HTTP/1.1\r\nHost: " +
               web_authority("api.allowed.test.") + "\r\n\r\n");
  const std::string ok = honest->read_response(5s);
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("Host: " + web_authority("api.allowed.test")), std::string::npos) << ok;

  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  DetailedLine no = line_with_status(lines, "400"), yes = line_with_status(lines, "200");
  EXPECT_EQ(no.host.find("web.allowed.test"), std::string::npos) << no.host;
  EXPECT_EQ(yes.host, web_authority("api.allowed.test"));
  EXPECT_EQ(yes.url, "http://" + web_authority("api.allowed.test") + "/echo");
  const std::string audit = awf::testing::read_file(dir_.file("audit.jsonl"));
  EXPECT_EQ(audit.find("web.allowed.test"), std::string::npos) << audit;
  expect_origin_saw_only_logged_requests();
}

// Blank lines before the request line count against a small cap
// (kMaxLeadingEmptyLines), not against nothing: a megabyte of CRLFs is
// refused after the first few instead of being buffered and rescanned.
TEST_F(HttpAttackTest, AMegabyteOfBlankLinesBeforeTheRequestIsRefused) {
  start_proxy();
  auto c = TcpClient::connect("127.0.0.1", port_);
  ASSERT_TRUE(c);
  std::string crlfs;
  for (int i = 0; i < 512 * 1024; ++i) crlfs += "\r\n";
  // The proxy may refuse and close before all of it is sent.
  c->send(crlfs + "GET " + web_url("web.allowed.test") + " HTTP/1.1\r\nHost: a\r\n\r\n");
  const std::string resp = c->read_response(5s);
  EXPECT_EQ(resp.rfind("HTTP/1.1 400", 0), 0u) << resp.substr(0, 200);
  EXPECT_NE(resp.find("too_many_empty_lines"), std::string::npos) << resp.substr(0, 200);
  EXPECT_EQ(web_->requests(), 0u);
  expect_fields(only_log_line(), {.status = "400", .code = "NONE_NONE:HIER_NONE"});

  // The one blank line RFC 9112 §2.2 asks servers to ignore still is.
  std::string ok = raw("\r\n\r\nGET " + web_url("web.allowed.test") + " HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
}

// A Host with a byte that is not UTF-8 reaches the log through the
// http-intercept listener; every audit.jsonl line must still be strict
// UTF-8 JSON (a strict reader stops at the first bad line).
TEST_F(HttpAttackTest, AuditLinesAreStrictUtf8JsonWhateverTheHostBytes) {
  if (awf::testing::run({"sh", "-c", "command -v python3"}).exit_code != 0) GTEST_SKIP() << "python3 is missing";
  start_proxy({"--allow-domains", "allowed.test", "--listen-http-intercept", "127.0.0.1:0"});
  const std::uint16_t port = http_intercept_port();
  ASSERT_NE(port, 0);
  // Names outside the allowlist: denied before any resolution.
  for (const std::string host : {"web\xff.other.test", "web.other.test\xc0\xaf", "caf\xc3\xa9.other.test"}) {
    auto c = TcpClient::connect("127.0.0.1", port);
    ASSERT_TRUE(c);
    c->send("GET / HTTP/1.1\r\nHost: " + host + ":" + std::to_string(web_->port()) + "\r\n\r\n");
    const std::string resp = c->read_response(5s);
    EXPECT_EQ(resp.rfind("HTTP/1.1 ", 0), 0u) << resp;
  }
  const auto lines = log_lines(3, "audit.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  // Python's json over text decoded with errors="strict": one host per line.
  RunResult r = awf::testing::run(
      {"python3", "-c",
       "import json, sys\n"
       "with open(sys.argv[1], 'rb') as f:\n"
       "    for raw in f:\n"
       "        print(json.dumps(json.loads(raw.decode('utf-8', 'strict'))['host']))\n",
       dir_.file("audit.jsonl")});
  ASSERT_EQ(r.exit_code, 0) << r.err << awf::testing::read_file(dir_.file("audit.jsonl"));
  auto hosts = split(r.out, '\n');
  std::sort(hosts.begin(), hosts.end());  // I/O threads log in their own order
  const std::string port_text = ":" + std::to_string(web_->port());
  EXPECT_EQ(hosts, (std::vector<std::string>{
                       "\"caf\\u00e9.other.test" + port_text + "\"",  // valid UTF-8 kept as it was
                       "\"web.other.test\\ufffd\\ufffd" + port_text + "\"",
                       "\"web\\ufffd.other.test" + port_text + "\"",
                   }))
      << r.out;
  // access.log keeps the original bytes, %-escaped.
  EXPECT_NE(awf::testing::read_file(dir_.file("access.log")).find("web%FF.other.test"), std::string::npos);
}

}  // namespace
}  // namespace awf::proxy_test
