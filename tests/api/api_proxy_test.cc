// The API proxy end to end: the real awf-proxy with --api-listen, the fake
// provider (HTTPS on port 443 of its own loopback address, its own test CA)
// named through the test's hosts file, and real clients (curl, python3).
// Each test states one behaviour of docs/api-proxy.md and fails without it.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "awf/testing/facility.h"
#include "awf/testing/fake_provider.h"
#include "awf/testing/files.h"
#include "awf/testing/net.h"
#include "awf/testing/process.h"

namespace awf::api_proxy_test {
namespace {

using namespace std::chrono_literals;
using awf::testing::FakeProvider;
using awf::testing::Process;
using awf::testing::RunResult;
using awf::testing::TempDir;

// The real credentials the proxy holds; the agent never sends them.
// Random-looking, so that no 4-character piece of one is also a word the
// logs hold anyway (a listener named api-anthropic holds "-ant").
constexpr const char* kOpenAiKey = "sk-Q7f3kq9zx2mRv8wL";
constexpr const char* kAnthropicKey = "sk-Zr5yP8w4v1Kd0Nx";
constexpr const char* kGeminiKey = "AIzaH2j5n7Yt3Bc9Lm";
constexpr const char* kByokKey = "Wb6Tq2Zs9Lk4Xe1Po";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// A loopback address of its own for each fake, so that tests running in
// parallel can each have port 443.
std::string fresh_loopback() {
  static std::mt19937 rng(static_cast<unsigned>(::getpid()) ^
                          static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::uniform_int_distribution<int> octet(2, 250);
  return "127." + std::to_string(octet(rng)) + "." + std::to_string(octet(rng)) + "." + std::to_string(octet(rng));
}

boost::json::value parse_json(const std::string& text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  return ec ? boost::json::value() : v;
}

std::string json_string_at(const boost::json::value& v, std::initializer_list<const char*> path) {
  const boost::json::value* at = &v;
  for (const char* key : path) {
    if (!at->is_object()) return "";
    const auto* next = at->as_object().if_contains(key);
    if (!next) return "";
    at = next;
  }
  return at->is_string() ? std::string(at->as_string()) : "";
}

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, last value
  std::string body;
  std::string raw_head;
};

// curl's -i output (possibly after a 100 Continue) as status, headers, body.
HttpReply parse_curl(const std::string& out) {
  HttpReply r;
  std::string rest = out;
  for (;;) {
    const auto end = rest.find("\r\n\r\n");
    if (end == std::string::npos) return r;
    r.raw_head = rest.substr(0, end);
    rest = rest.substr(end + 4);
    if (r.raw_head.rfind("HTTP/1.1 100", 0) != 0) break;
  }
  std::istringstream head(r.raw_head);
  std::string line;
  std::getline(head, line);
  if (line.size() >= 12) r.status = std::stoi(line.substr(9, 3));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[name] = value;
  }
  r.body = rest;
  return r;
}

// A python3 client reading an SSE response as it arrives: when the first
// event was complete (CLOCK_MONOTONIC, as std::chrono::steady_clock), the
// framing it came in, and the body bytes.
constexpr const char* kSseClient = R"PY(
import http.client, json, sys, time
host, port, path, body = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = http.client.HTTPConnection(host, port, timeout=30)
c.request("POST", path, body=body.encode(), headers={"Content-Type": "application/json",
          "Authorization": "Bearer sk-placeholder-for-api-proxy"})
r = c.getresponse()
first, data = None, b""
while True:
    piece = r.read1(65536)
    if not piece:
        break
    data += piece
    if first is None and b"\n\n" in data:
        first = time.monotonic_ns()
print(json.dumps({"status": r.status, "first_ns": first, "te": r.getheader("Transfer-Encoding"),
                  "body": data.decode()}))
)PY";

// A python3 WebSocket client (RFC 6455 by hand): the upgrade with a real
// random key, the accept value checked, one masked text frame sent and its
// echo read back.
constexpr const char* kWebSocketClient = R"PY(
import base64, hashlib, json, os, socket, sys
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer agent-supplied\r\n\r\n"
           % (path, host, port, key)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
head, _, rest = buf.partition(b"\r\n\r\n")
lines = head.decode().split("\r\n")
status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
out = {"status": status, "head": head.decode()}
if status == 101:
    want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    out["accept_ok"] = headers.get("sec-websocket-accept") == want
    payload = b"hello through the proxy"
    mask = os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    while len(rest) < 2 + len(payload):
        d = s.recv(4096)
        if not d:
            break
        rest += d
    out["echo"] = rest[2:2 + (rest[1] & 0x7f)].decode(errors="replace") if len(rest) >= 2 else ""
else:
    while True:
        d = s.recv(4096)
        if not d:
            break
        rest += d
    out["body"] = rest.decode(errors="replace")
print(json.dumps(out))
)PY";

class ApiProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AWF_REQUIRE_FACILITY(run({"sh", "-c", "command -v curl && command -v python3 && command -v openssl"}).exit_code == 0,
                         "curl, python3 and openssl");
    // The provider's port is always 443: binding it needs root (or
    // CAP_NET_BIND_SERVICE).
    AWF_REQUIRE_FACILITY(::geteuid() == 0, "root (the fake provider listens on port 443)");
    dns_port_ = awf::testing::unused_port("127.0.0.1");
  }

  void TearDown() override {
    if (!proxy_) return;
    proxy_->signal(SIGTERM);
    EXPECT_EQ(proxy_->wait(15s), std::optional<int>(0)) << proxy_->stderr_text();
    EXPECT_EQ(proxy_->stderr_text().find("Sanitizer"), std::string::npos) << proxy_->stderr_text();
    EXPECT_EQ(proxy_->stderr_text().find("runtime error"), std::string::npos) << proxy_->stderr_text();
  }

  static RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 60s) {
    return awf::testing::run(argv, timeout);
  }

  // A fake provider on port 443 of a fresh loopback address.
  std::unique_ptr<FakeProvider> start_fake(FakeProvider::Options options = {}) {
    options.port = 443;
    for (int attempt = 0; attempt < 5; ++attempt) {
      options.host = fresh_loopback();
      // Its own directory: the fake names its files by port, always 443 here.
      options.cert_dir = dir_.file("fake-" + options.host);
      std::filesystem::create_directories(options.cert_dir);
      if (auto fake = FakeProvider::start(options)) return fake;
    }
    ADD_FAILURE() << "cannot start the fake provider";
    return nullptr;
  }

  // The hosts file the proxy resolves with: each name on its own line.
  void name_host(const std::string& name, const std::string& address) {
    hosts_ += address + " " + name + "\n";
    awf::testing::write_file(dir_.file("hosts"), hosts_);
  }

  // The fake everything but custom tests use: OpenAI, Anthropic and Gemini
  // pointed at it by name, keys from variables and a file.
  // `names`: more names for the fake's address.
  void start_default(std::vector<std::string> extra = {}, std::vector<std::string> env = {},
                     FakeProvider::Options options = {}, const std::vector<std::string>& names = {}) {
    fake_ = start_fake(options);
    ASSERT_TRUE(fake_);
    for (const auto& name : names) name_host(name, fake_->host());
    name_host("api.openai.test", fake_->host());
    name_host("api.anthropic.test", fake_->host());
    name_host("generativelanguage.test", fake_->host());
    awf::testing::write_file(dir_.file("anthropic.key"), std::string(kAnthropicKey) + "\n");
    std::vector<std::string> args = {
        "--api-listen", "openai=127.0.0.1:0", "--api-listen", "anthropic=127.0.0.1:0", "--api-listen",
        "gemini=127.0.0.1:0", "--api-listen", "vertex=127.0.0.1:0",
        "--api-target", "openai=api.openai.test", "--api-target", "anthropic=api.anthropic.test",
        "--api-target", "gemini=generativelanguage.test",
        "--api-key", "openai=env:TEST_OPENAI_SECRET", "--api-key", "anthropic=file:" + dir_.file("anthropic.key"),
        "--api-ca-cert", fake_->ca_cert_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    env.push_back(std::string("TEST_OPENAI_SECRET=") + kOpenAiKey);
    env.push_back(std::string("GEMINI_API_KEY=") + kGeminiKey);
    start_proxy(args, env);
  }

  void start_proxy(const std::vector<std::string>& extra, const std::vector<std::string>& env = {}) {
    if (hosts_.empty()) name_host("placeholder.test", "127.0.0.1");
    // Through env(1), which execs the proxy in place: the provider
    // variables of the test's own environment are removed, the test's
    // settings added.
    std::vector<std::string> args = {"env"};
    for (const char* v : {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "COPILOT_GITHUB_TOKEN", "COPILOT_PROVIDER_API_KEY",
                          "COPILOT_PROVIDER_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY", "AWF_ALLOWED_MODELS",
                          "AWF_DISALLOWED_MODELS", "AWF_FALLBACK_MODELS", "SSL_CERT_FILE", "SSL_CERT_DIR", "OPENAI_API_TARGET",
                          "ANTHROPIC_API_TARGET", "GEMINI_API_TARGET", "COPILOT_API_TARGET", "AWF_AUTH_TYPE"}) {
      args.insert(args.end(), {"-u", v});
    }
    args.insert(args.end(), env.begin(), env.end());
    args.insert(args.end(), {AWF_PROXY_BIN,
                             "--hosts-file", dir_.file("hosts"),
                             // Never the host's resolvers: names the hosts file lacks fail here.
                             "--dns-servers", "127.0.0.1:" + std::to_string(dns_port_),
                             "--log-dir", dir_.path(),
                             "--threads", "2"});
    args.insert(args.end(), extra.begin(), extra.end());
    proxy_ = Process::spawn(args);
    ASSERT_TRUE(proxy_->wait_for_stderr("awf-proxy: ready", 15s)) << proxy_->stderr_text();
    for (const auto& line : lines_of(proxy_->stderr_text())) {
      static const std::regex listening(R"(listening on 127\.0\.0\.1:(\d+)(?: \(([a-z-]+)\))?)");
      std::smatch m;
      if (!std::regex_search(line, m, listening)) continue;
      ports_[m[2].matched ? m[2].str() : "forward"] = static_cast<std::uint16_t>(std::stoi(m[1].str()));
    }
  }

  std::uint16_t port(const std::string& kind) const {
    auto it = ports_.find(kind);
    return it == ports_.end() ? 0 : it->second;
  }

  std::string base(const std::string& kind) const { return "http://127.0.0.1:" + std::to_string(port(kind)); }

  // curl to an API listener: -i, no proxy, the extra arguments, the URL.
  HttpReply curl(const std::string& url, std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv = {"curl", "-q", "-sS", "-i", "--noproxy", "*", "--max-time", "30"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    RunResult r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return parse_curl(r.out);
  }

  HttpReply chat(const std::string& body = R"({"model":"gpt-test","messages":[]})",
                 std::vector<std::string> headers = {}) const {
    std::vector<std::string> extra = {"-H", "Content-Type: application/json", "--data-binary", body};
    for (const auto& h : headers) {
      extra.push_back("-H");
      extra.push_back(h);
    }
    return curl(base("api-openai") + "/v1/chat/completions", extra);
  }

  RunResult python(const char* script, const std::vector<std::string>& args) const {
    const std::string path = dir_.file("client.py");
    awf::testing::write_file(path, script);
    std::vector<std::string> argv = {"python3", path};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  std::vector<std::string> log_lines(std::size_t n, const std::string& file = "access.log") const {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::vector<std::string> lines;
    for (;;) {
      lines = lines_of(awf::testing::read_file(dir_.file(file)));
      if (lines.size() >= n || std::chrono::steady_clock::now() > deadline) return lines;
      std::this_thread::sleep_for(20ms);
    }
  }

  TempDir dir_;
  std::string hosts_;
  std::uint16_t dns_port_ = 0;
  std::unique_ptr<FakeProvider> fake_;
  std::unique_ptr<Process> proxy_;
  std::map<std::string, std::uint16_t> ports_;
};

// §8.1: whatever the agent sends as a credential, the provider gets only
// the real key, once.
TEST_F(ApiProxyTest, AgentCredentialIsReplacedByTheRealKey) {
  start_default();
  HttpReply r = chat(R"({"model":"gpt-test","messages":[]})", {"Authorization: Bearer agent-supplied"});
  EXPECT_EQ(r.status, 200) << r.raw_head << r.body;
  auto req = fake_->last_request();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->header("authorization"), std::optional<std::string>(std::string("Bearer ") + kOpenAiKey));
  EXPECT_EQ(req->header_count("authorization"), 1u);
  EXPECT_EQ(req->target, "/v1/chat/completions");
  EXPECT_EQ(req->body, R"({"model":"gpt-test","messages":[]})");

  // Anthropic's key came from a file, trimmed; the agent's x-api-key is gone.
  HttpReply a = curl(base("api-anthropic") + "/v1/messages",
                     {"-H", "x-api-key: agent-supplied", "-H", "Content-Type: application/json", "--data-binary",
                      R"({"model":"claude-test","max_tokens":5,"messages":[]})"});
  EXPECT_EQ(a.status, 200) << a.raw_head << a.body;
  req = fake_->last_request();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->header("x-api-key"), std::optional<std::string>(kAnthropicKey));
  EXPECT_EQ(req->header_count("x-api-key"), 1u);
  EXPECT_EQ(req->header("anthropic-version"), std::optional<std::string>("2023-06-01"));
}

// §8.3: proxy metadata, in any case, never reaches the provider.
TEST_F(ApiProxyTest, ProxyMetadataHeadersNeverReachTheProvider) {
  start_default();
  HttpReply r = chat(R"({"model":"gpt-test","messages":[]})",
                     {"proxy-authorization: Basic eDp5", "FORWARDED: for=10.0.0.1", "Via: 1.1 agent",
                      "X-Forwarded-For: 10.0.0.2", "x-FORWARDED-host: evil.example", "X-Kept: yes"});
  EXPECT_EQ(r.status, 200) << r.raw_head;
  auto req = fake_->last_request();
  ASSERT_TRUE(req);
  for (const char* name : {"proxy-authorization", "forwarded", "via", "x-forwarded-for", "x-forwarded-host"}) {
    EXPECT_EQ(req->header_count(name), 0u) << name;
  }
  EXPECT_EQ(req->header("x-kept"), std::optional<std::string>("yes"));
}

// §8.4: the agent's Host names nothing; SNI, the certificate check and the
// Host header are the configured target's, on port 443.
TEST_F(ApiProxyTest, HostHeaderIsIgnoredSniAndHostAreTheConfiguredTarget) {
  start_default();
  HttpReply r = chat(R"({"model":"gpt-test","messages":[]})", {"Host: evil.example"});
  EXPECT_EQ(r.status, 200) << r.raw_head;
  auto req = fake_->last_request();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->sni, "api.openai.test");
  EXPECT_EQ(req->header("host"), std::optional<std::string>("api.openai.test"));
  EXPECT_EQ(req->header_count("host"), 1u);
  EXPECT_EQ(fake_->port(), 443);
  // The access log names the configured host and the address dialled.
  auto lines = log_lines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" api.openai.test " + fake_->host() + ":443 1.1 POST 200 TCP_MISS:HIER_DIRECT "
                          "https://api.openai.test/v1/chat/completions \"provider=openai model=gpt-test\""),
            std::string::npos)
      << lines[0];
}

// §8.5: a target that is not origin form is refused; nothing is dialled.
TEST_F(ApiProxyTest, TargetsNamingAnotherHostAreRefusedWithoutContactingTheProvider) {
  start_default();
  for (const std::string target : {"//evil.example/x", "http://evil.example/x"}) {
    auto c = awf::testing::TcpClient::connect("127.0.0.1", port("api-openai"));
    ASSERT_TRUE(c);
    c->send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const std::string response = c->read_response(5s);
    EXPECT_EQ(response.rfind("HTTP/1.1 400 ", 0), 0u) << target << ": " << response;
    EXPECT_NE(response.find("URL must be a relative path"), std::string::npos) << response;
  }
  EXPECT_EQ(fake_->connections(), 0u);
}

// §8.9: Gemini's key query parameters never travel; the key goes in the
// header.
TEST_F(ApiProxyTest, GeminiKeyParametersAreRemovedAndTheKeyIsAHeader) {
  start_default();
  HttpReply r = curl(base("api-gemini") + "/v1beta/models/gemini-test:streamGenerateContent?key=x&apiKey=y&api_key=z&alt=sse",
                     {"-H", "Content-Type: application/json", "--data-binary", R"({"contents":[]})"});
  EXPECT_EQ(r.status, 200) << r.raw_head;
  auto req = fake_->last_request();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->target, "/v1beta/models/gemini-test:streamGenerateContent?alt=sse");
  EXPECT_EQ(req->header("x-goog-api-key"), std::optional<std::string>(kGeminiKey));
  EXPECT_EQ(req->sni, "generativelanguage.test");
}

// §8.17: exactly 10 MiB goes through (Content-Length and chunked); one byte
// more is 413 and the provider sees nothing of it.
TEST_F(ApiProxyTest, BodyOfTenMebibytesPassesOneByteMoreIs413) {
  start_default();
  const std::size_t limit = 10485760;
  awf::testing::write_file(dir_.file("at-limit"), std::string(limit, 'a'));
  awf::testing::write_file(dir_.file("over-limit"), std::string(limit + 1, 'a'));
  for (const bool chunked : {false, true}) {
    SCOPED_TRACE(chunked ? "chunked" : "Content-Length");
    std::vector<std::string> framing = {"-H", "Content-Type: application/octet-stream"};
    if (chunked) framing.insert(framing.end(), {"-H", "Transfer-Encoding: chunked"});
    const std::size_t before = fake_->requests();
    auto at = framing;
    at.insert(at.end(), {"--data-binary", "@" + dir_.file("at-limit")});
    HttpReply ok = curl(base("api-openai") + "/v1/files", at);
    EXPECT_NE(ok.status, 413) << ok.raw_head << ok.body;
    ASSERT_TRUE(fake_->wait_for_requests(before + 1, 5s));
    auto req = fake_->last_request();
    ASSERT_TRUE(req);
    EXPECT_EQ(req->body.size(), limit);
    EXPECT_FALSE(req->chunked);  // the proxy sends the whole body with a length

    auto over = framing;
    over.insert(over.end(), {"--data-binary", "@" + dir_.file("over-limit")});
    HttpReply refused = curl(base("api-openai") + "/v1/files", over);
    EXPECT_EQ(refused.status, 413) << refused.raw_head;
    EXPECT_NE(refused.body.find("Request body exceeds 10 MB limit"), std::string::npos) << refused.body;
    EXPECT_FALSE(refused.headers["x-request-id"].empty());
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(fake_->requests(), before + 1);
  }
}

// §8.18: SSE is relayed as it arrives (the first event reaches the client
// before the provider has finished), and the bytes are the provider's.
TEST_F(ApiProxyTest, ServerSentEventsReachTheClientAsTheyArriveUnchanged) {
  start_default();
  fake_->set_stream(5, 300ms);
  const std::string body = R"({"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[]})";
  RunResult py = python(kSseClient, {"127.0.0.1", std::to_string(port("api-openai")), "/v1/chat/completions", body});
  ASSERT_EQ(py.exit_code, 0) << py.err;
  const boost::json::value out = parse_json(py.out);
  ASSERT_TRUE(out.is_object()) << py.out;
  EXPECT_EQ(out.at("status").as_int64(), 200);
  EXPECT_EQ(json_string_at(out, {"te"}), "chunked");
  auto req = fake_->last_request();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->events_sent.size(), 7u);  // 5 content chunks, the usage chunk, [DONE]
  ASSERT_TRUE(out.at("first_ns").is_int64()) << py.out;
  const auto first_seen = std::chrono::nanoseconds(out.at("first_ns").as_int64());
  // Both clocks are CLOCK_MONOTONIC.
  EXPECT_LT(first_seen, req->events_sent.back().time_since_epoch()) << "the first event waited for the last";
  EXPECT_LT(first_seen, req->events_sent[2].time_since_epoch());

  // The same request straight to the fake (request 2): the same bytes but
  // for the request number in the ids.
  RunResult direct = run({"curl", "-q", "-sS", "--noproxy", "*", "--max-time", "30", "--cacert", fake_->ca_cert_path(),
                          "--resolve", "api.openai.test:443:" + fake_->host(), "-H", "Content-Type: application/json",
                          "--data-binary", body, "https://api.openai.test/v1/chat/completions"});
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  std::string expected = std::regex_replace(direct.out, std::regex("chatcmpl-fake-2"), "chatcmpl-fake-1");
  EXPECT_EQ(json_string_at(out, {"body"}), expected);
}

// §8.26: an unreachable provider is a 502 JSON naming why, with the
// request id: a valid client id echoed, an invalid one replaced.
TEST_F(ApiProxyTest, UnreachableProviderIs502WithTheRequestId) {
  fake_ = start_fake();
  ASSERT_TRUE(fake_);
  const std::string nobody = fresh_loopback();  // nothing listens there
  name_host("api.down.test", nobody);
  start_proxy({"--api-listen", "openai=127.0.0.1:0", "--api-target", "openai=api.down.test", "--api-key",
               "openai=env:TEST_OPENAI_SECRET"},
              {std::string("TEST_OPENAI_SECRET=") + kOpenAiKey});
  HttpReply r = chat(R"({"model":"gpt-test","messages":[]})", {"X-Request-ID: client-id_1.2"});
  EXPECT_EQ(r.status, 502) << r.raw_head;
  EXPECT_EQ(r.headers["x-request-id"], "client-id_1.2");
  EXPECT_EQ(r.headers["content-type"], "application/json");
  const boost::json::value body = parse_json(r.body);
  EXPECT_EQ(json_string_at(body, {"error"}), "Proxy error") << r.body;
  EXPECT_NE(json_string_at(body, {"message"}).find("cannot connect to api.down.test"), std::string::npos) << r.body;

  HttpReply invalid = chat(R"({"model":"gpt-test","messages":[]})", {"X-Request-ID: bad id!"});
  EXPECT_EQ(invalid.status, 502);
  EXPECT_TRUE(std::regex_match(invalid.headers["x-request-id"],
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << invalid.headers["x-request-id"];
  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(" 502 NONE_NONE:HIER_DIRECT https://api.down.test/v1/chat/completions "), std::string::npos)
      << lines[0];
}

// §8.27: GET /health is answered by the proxy on every listener.
TEST_F(ApiProxyTest, HealthIsAnsweredLocallyOnEveryListener) {
  start_default();
  HttpReply management = curl(base("api-openai") + "/health");
  EXPECT_EQ(management.status, 200);
  const boost::json::value providers = parse_json(management.body);
  ASSERT_TRUE(providers.is_object()) << management.body;
  EXPECT_TRUE(providers.at("providers").at("openai").as_bool());
  EXPECT_FALSE(providers.at("providers").at("copilot").as_bool());
  EXPECT_EQ(curl(base("api-anthropic") + "/health").status, 200);
  EXPECT_EQ(curl(base("api-gemini") + "/health").status, 200);
  HttpReply vertex = curl(base("api-vertex") + "/health");
  EXPECT_EQ(vertex.status, 503);
  EXPECT_NE(vertex.body.find("not_configured"), std::string::npos);
  EXPECT_EQ(fake_->connections(), 0u);
}

// §8.29: the provider's errors reach the agent unchanged, once each.
TEST_F(ApiProxyTest, ProviderErrorsPassUnchangedAndAreNotRetried) {
  start_default();
  std::size_t sent = 0;
  for (int status : {401, 403, 429, 500, 503}) {
    const std::string body = R"({"error":{"message":"fake )" + std::to_string(status) + R"("}})";
    fake_->set_next_status(status, body, {{"Retry-After", "7"}, {"X-Provider-Note", "n"}});
    HttpReply r = chat();
    ++sent;
    EXPECT_EQ(r.status, status) << r.raw_head;
    EXPECT_EQ(r.body, body);
    EXPECT_EQ(r.headers["retry-after"], "7");
    EXPECT_EQ(r.headers["x-provider-note"], "n");
    EXPECT_FALSE(r.headers["x-request-id"].empty());
    EXPECT_EQ(fake_->requests(), sent) << "status " << status;
  }
}

// §8.28: Anthropic's 400 refusing a beta value is answered by one more
// attempt without it; later requests leave it out up front.
TEST_F(ApiProxyTest, RefusedAnthropicBetaIsDroppedRetriedOnceAndRemembered) {
  FakeProvider::Options options;
  options.rejected_betas = {"b1"};
  start_default({}, {}, options);
  auto messages = [&](const std::string& betas) {
    return curl(base("api-anthropic") + "/v1/messages",
                {"-H", "anthropic-beta: " + betas, "-H", "Content-Type: application/json", "--data-binary",
                 R"({"model":"claude-test","max_tokens":5,"messages":[]})"});
  };
  HttpReply first = messages("b0,b1");
  EXPECT_EQ(first.status, 200) << first.raw_head << first.body;
  auto all = fake_->recorded_requests();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].header("anthropic-beta"), std::optional<std::string>("b0,b1"));
  EXPECT_EQ(all[0].status, 400);
  EXPECT_EQ(all[1].header("anthropic-beta"), std::optional<std::string>("b0"));
  EXPECT_EQ(all[1].header("x-api-key"), std::optional<std::string>(kAnthropicKey));
  EXPECT_EQ(all[1].status, 200);

  HttpReply later = messages("b1, b2");
  EXPECT_EQ(later.status, 200) << later.raw_head << later.body;
  all = fake_->recorded_requests();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].header("anthropic-beta"), std::optional<std::string>("b2"));
  EXPECT_TRUE(proxy_->wait_for_stderr("refused anthropic-beta value(s) b1; sending again without them", 5s))
      << proxy_->stderr_text();

  // Another value refused while a refused one is still sent: at most one
  // more attempt, then the refusal reaches the agent unchanged.
  fake_->set_rejected_betas({"b3", "b4"});
  HttpReply refused = messages("b3");
  EXPECT_EQ(refused.status, 200) << refused.body;  // b3 dropped, sent again without the header
  fake_->set_rejected_betas({"b5"});
  const std::size_t before = fake_->requests();
  fake_->set_next_status(400, R"({"type":"error","error":{"message":"Unexpected value(s) `b6` for the `anthropic-beta` header"}})");
  HttpReply twice = messages("b5,b6");
  EXPECT_EQ(twice.status, 400) << twice.body;
  EXPECT_NE(twice.body.find("`b5`"), std::string::npos) << twice.body;
  EXPECT_EQ(fake_->requests(), before + 2);
}

// The same rule on Copilot's route, for any header the provider names; a
// 400 saying something else passes unchanged, once.
TEST_F(ApiProxyTest, CopilotRefusedHeaderValueIsDroppedAndRetriedOnce) {
  start_default({"--api-listen", "copilot=127.0.0.1:0", "--api-target", "copilot=api.githubcopilot.test", "--api-key",
                 "copilot=env:TEST_OPENAI_SECRET"},
                {}, {}, {"api.githubcopilot.test"});
  fake_->set_next_status(400, R"({"error":{"message":"Unexpected value(s) `v1` for the `X-Feature` header"}})");
  auto completions = [&]() {
    return curl(base("api-copilot") + "/chat/completions",
                {"-H", "X-Feature: v0, v1", "-H", "Content-Type: application/json", "--data-binary",
                 R"({"model":"copilot-test","messages":[]})"});
  };
  HttpReply r = completions();
  EXPECT_EQ(r.status, 200) << r.raw_head << r.body;
  auto all = fake_->recorded_requests();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].header("x-feature"), std::optional<std::string>("v0, v1"));
  EXPECT_EQ(all[1].header("x-feature"), std::optional<std::string>("v0"));
  EXPECT_EQ(all[1].body, all[0].body);
  EXPECT_EQ(all[1].header("authorization"), all[0].header("authorization"));

  const std::string other = R"({"error":{"message":"messages: field required"}})";
  fake_->set_next_status(400, other, {{"X-Provider-Note", "n"}});
  HttpReply plain = completions();
  EXPECT_EQ(plain.status, 400);
  EXPECT_EQ(plain.body, other);
  EXPECT_EQ(plain.headers["x-provider-note"], "n");
  EXPECT_EQ(plain.headers["content-length"], std::to_string(other.size()));
  EXPECT_EQ(fake_->requests(), 3u);
  EXPECT_EQ(fake_->last_request()->header("x-feature"), std::optional<std::string>("v0"));  // remembered
}

// Copilot's "the requested model is not supported": two more attempts,
// 1 s and 2 s later; then the answer reaches the agent.
TEST_F(ApiProxyTest, CopilotModelNotSupportedIsRetriedTwiceAfterOneAndTwoSeconds) {
  start_default({"--api-listen", "copilot=127.0.0.1:0", "--api-target", "copilot=api.githubcopilot.test", "--api-key",
                 "copilot=env:TEST_OPENAI_SECRET"},
                {}, {}, {"api.githubcopilot.test"});
  const std::string body = R"({"error":{"message":"The requested model is not supported.","code":"model_not_supported"}})";
  auto completions = [&]() {
    return curl(base("api-copilot") + "/chat/completions",
                {"-H", "Content-Type: application/json", "--data-binary", R"({"model":"new-model","messages":[]})"});
  };
  fake_->set_next_status(400, body, {}, 3);
  HttpReply r = completions();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, body);
  auto all = fake_->recorded_requests();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_GE(all[1].arrived - all[0].arrived, 950ms);
  EXPECT_GE(all[2].arrived - all[1].arrived, 1950ms);

  fake_->set_next_status(400, body);
  HttpReply second = completions();
  EXPECT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(fake_->requests(), 5u);
}

// An answer is read before deciding only up to 64 KiB: a bigger 400 goes
// to the agent unchanged and is not acted on.
TEST_F(ApiProxyTest, LargeRefusalPassesUnchangedWithoutRetry) {
  FakeProvider::Options options;
  start_default({}, {}, options);
  const std::string body = R"({"error":{"message":"Unexpected value(s) `b1` for the `anthropic-beta` header","pad":")" +
                           std::string(70 * 1024, 'p') + "\"}}";
  fake_->set_next_status(400, body);
  HttpReply r = curl(base("api-anthropic") + "/v1/messages",
                     {"-H", "anthropic-beta: b1", "-H", "Content-Type: application/json", "--data-binary",
                      R"({"model":"claude-test","max_tokens":5,"messages":[]})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.headers["content-length"], std::to_string(body.size()));
  EXPECT_EQ(fake_->requests(), 1u);
}

// Fallback models: the next one on a 5xx, on a 400/404 saying the model is
// unsupported and on a connection that ends before an answer; the agent
// gets the answer of the model that gave one, and the logs name it.
TEST_F(ApiProxyTest, FallbackModelsAnswerWhenTheAskedModelFails) {
  start_default({}, {R"(AWF_FALLBACK_MODELS=["gpt-b","gpt-c","gpt-d"])"});
  fake_->set_model_answer("gpt-a", 503, R"({"error":{"message":"overloaded"}})");
  fake_->set_model_answer("gpt-b", 404, R"({"error":{"message":"The model `gpt-b` does not exist","code":"model_not_found"}})");
  fake_->set_model_answer("gpt-c", 0);  // the connection ends without an answer
  HttpReply r = chat(R"({"model":"gpt-a","messages":[]})", {"X-Request-ID: fb-1"});
  EXPECT_EQ(r.status, 200) << r.raw_head << r.body;
  EXPECT_EQ(json_string_at(parse_json(r.body), {"model"}), "gpt-d") << r.body;
  EXPECT_EQ(r.headers["x-request-id"], "fb-1");
  // gpt-c twice: its first attempt went on the connection gpt-b's answer
  // left in the pool, and a reused connection that ends before an answer
  // is tried once more on a new one before the next model.
  auto all = fake_->recorded_requests();
  ASSERT_EQ(all.size(), 5u);
  const std::vector<std::pair<std::string, int>> want = {
      {"gpt-a", 503}, {"gpt-b", 404}, {"gpt-c", 0}, {"gpt-c", 0}, {"gpt-d", 200}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_NE(all[i].body.find("\"model\":\"" + want[i].first + "\""), std::string::npos) << all[i].body;
    EXPECT_EQ(all[i].status, want[i].second) << want[i].first;
    EXPECT_EQ(all[i].header("authorization"), std::optional<std::string>(std::string("Bearer ") + kOpenAiKey));
    EXPECT_EQ(all[i].header("content-length"), std::optional<std::string>(std::to_string(all[i].body.size())));
  }
  auto lines = log_lines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"provider=openai model=gpt-d\""), std::string::npos) << lines[0];
  EXPECT_TRUE(proxy_->wait_for_stderr("answered by fallback model gpt-d (asked for gpt-a)", 5s))
      << proxy_->stderr_text();
  EXPECT_NE(proxy_->stderr_text().find("503 Service Unavailable from api.openai.test; falling back from model gpt-a "
                                       "to gpt-b"),
            std::string::npos)
      << proxy_->stderr_text();

  EXPECT_EQ(all[2].connection, all[1].connection);
  EXPECT_NE(all[3].connection, all[2].connection);

  // Every fallback failing: the last answer reaches the agent as it came.
  fake_->set_model_answer("gpt-d", 502, R"({"error":{"message":"bad gateway d"}})");
  HttpReply last = chat(R"({"model":"gpt-a","messages":[]})");
  EXPECT_EQ(last.status, 502);
  EXPECT_EQ(last.body, R"({"error":{"message":"bad gateway d"}})");
  ASSERT_TRUE(fake_->last_request());
  EXPECT_NE(fake_->last_request()->body.find("\"model\":\"gpt-d\""), std::string::npos);
  EXPECT_EQ(fake_->last_request()->status, 502);
}

// Never on 401, 403 or 429, and never for a 400 that is about something
// else: those reach the agent unchanged, once.
TEST_F(ApiProxyTest, FallbackNeverFollowsAuthQuotaOrOrdinaryErrors) {
  start_default({}, {R"(AWF_FALLBACK_MODELS=["gpt-b"])"});
  std::size_t sent = 0;
  for (int status : {401, 403, 429, 400}) {
    const std::string body = R"({"error":{"message":"fake )" + std::to_string(status) + R"("}})";
    fake_->set_model_answer("gpt-a", status, body);
    HttpReply r = chat(R"({"model":"gpt-a","messages":[]})");
    ++sent;
    EXPECT_EQ(r.status, status);
    EXPECT_EQ(r.body, body);
    EXPECT_EQ(fake_->requests(), sent) << status;
  }
}

// §8.23: a fallback model the policy refuses is no configuration the proxy
// starts with; the error names the entry and the rule.
TEST_F(ApiProxyTest, DisallowedFallbackModelStopsTheStart) {
  name_host("placeholder.test", "127.0.0.1");
  auto proxy = Process::spawn({"env", "-u", "OPENAI_API_KEY", "-u", "AWF_ALLOWED_MODELS", "-u", "AWF_DISALLOWED_MODELS",
                               "-u", "AWF_FALLBACK_MODELS", std::string("TEST_OPENAI_SECRET=") + kOpenAiKey,
                               R"(AWF_ALLOWED_MODELS=["gpt-5*"])", R"(AWF_FALLBACK_MODELS=["gpt-5-mini","gpt-4o"])",
                               AWF_PROXY_BIN, "--hosts-file", dir_.file("hosts"), "--dns-servers",
                               "127.0.0.1:" + std::to_string(dns_port_), "--log-dir", dir_.path(), "--api-listen",
                               "openai=127.0.0.1:0", "--api-key", "openai=env:TEST_OPENAI_SECRET"});
  const auto code = proxy->wait(15s);
  ASSERT_TRUE(code.has_value()) << proxy->stderr_text();
  EXPECT_NE(*code, 0);
  EXPECT_NE(proxy->stderr_text().find("AWF_FALLBACK_MODELS: entry 2 \"gpt-4o\" is refused by the model policy "
                                      "(not_allowed)"),
            std::string::npos)
      << proxy->stderr_text();
}

// Provider connections are kept alive: sequential requests from one agent
// connection (one worker) reach the provider over one TLS connection, and
// the proxy no longer asks the provider to close it.
TEST_F(ApiProxyTest, SequentialRequestsShareOneProviderConnection) {
  start_default();
  RunResult r = run({"curl", "-q", "-sS", "--noproxy", "*", "--max-time", "20", base("api-openai") + "/v1/models",
                     base("api-openai") + "/v1/models", base("api-openai") + "/v1/models"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto all = fake_->recorded_requests();
  ASSERT_EQ(all.size(), 3u);
  for (const auto& req : all) {
    EXPECT_EQ(req.connection, 1u);
    EXPECT_EQ(req.header("connection"), std::nullopt);
    EXPECT_EQ(req.sni, "api.openai.test");
  }
  EXPECT_EQ(fake_->connections(), 1u);
}

// Concurrent streams each need a provider connection, and once they end the
// proxy keeps every one of them for the next requests (up to
// ApiUpstreamPool::kIdlePerHost per worker): ten at once over two workers
// put five or more on one worker, more than a small per-host limit keeps.
TEST_F(ApiProxyTest, ConnectionsOfConcurrentStreamsAreAllKeptForLaterRequests) {
  start_default();
  fake_->set_stream(3, 200ms);
  const std::string body = R"({"model":"gpt-test","stream":true,"messages":[]})";
  std::vector<std::unique_ptr<Process>> clients;
  for (int i = 0; i < 10; ++i) {
    clients.push_back(Process::spawn({"curl", "-q", "-sS", "-N", "--noproxy", "*", "--max-time", "20", "-o",
                                      "/dev/null", "-H", "Content-Type: application/json", "--data-binary", body,
                                      base("api-openai") + "/v1/chat/completions"}));
  }
  for (auto& c : clients) ASSERT_EQ(c->wait(30s), 0) << c->stderr_text();
  ASSERT_EQ(fake_->connections(), 10u) << "the ten streams overlapped, one provider connection each";
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (fake_->idle_connections() < 10 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(fake_->idle_connections(), 10u) << "every provider connection is kept open for later requests";
}

// A connection the provider answered with "Connection: close" is not used
// again.
TEST_F(ApiProxyTest, ProviderConnectionClosedByTheProviderIsNotReused) {
  start_default();
  fake_->set_next_status(200, R"({"object":"list","data":[]})", {{"Connection", "close"}});
  RunResult r = run({"curl", "-q", "-sS", "--noproxy", "*", "--max-time", "20", base("api-openai") + "/v1/models",
                     base("api-openai") + "/v1/models"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto all = fake_->recorded_requests();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_NE(all[1].connection, all[0].connection);
}

// A provider closing an idle connection (its idle timer) does not fail the
// next request: it goes over a new connection.
TEST_F(ApiProxyTest, ProviderClosingAnIdleConnectionDoesNotFailTheNextRequest) {
  start_default();
  // One agent connection, so both requests are served by one worker; the
  // second waits for the go file.
  const std::string go = dir_.file("go");
  const std::string script = dir_.file("two.py");
  awf::testing::write_file(script, R"PY(
import http.client, os, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
for i in range(2):
    if i == 1:
        deadline = time.time() + 15
        while not os.path.exists(sys.argv[2]) and time.time() < deadline:
            time.sleep(0.02)
    c.request("GET", "/v1/models")
    r = c.getresponse()
    r.read()
    print("status", r.status, file=sys.stderr, flush=True)
)PY");
  auto client = Process::spawn({"python3", script, std::to_string(port("api-openai")), go});
  ASSERT_TRUE(client->wait_for_stderr("status 200", 20s)) << client->stderr_text();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (fake_->idle_connections() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(fake_->idle_connections(), 1u) << "the proxy keeps its provider connection open";
  EXPECT_EQ(fake_->close_idle_connections(), 1u);
  std::this_thread::sleep_for(100ms);
  awf::testing::write_file(go, "");
  EXPECT_EQ(client->wait(20s), std::optional<int>(0)) << client->stderr_text();
  EXPECT_EQ(client->stderr_text(), "status 200\nstatus 200\n");
  auto all = fake_->recorded_requests();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].status, 200);
  EXPECT_NE(all[1].connection, all[0].connection);
}

// A reused connection that ends before a byte of the answer (the provider
// dropped it just as the request went out) is tried once more on a new
// connection; a new connection that does the same is not: 502.
TEST_F(ApiProxyTest, ReusedConnectionFailingBeforeAnAnswerIsRetriedOnANewOne) {
  start_default();
  fake_->set_model_answer("gpt-drop", 0);
  HttpReply fresh = chat(R"({"model":"gpt-drop","messages":[]})");
  EXPECT_EQ(fresh.status, 502);
  EXPECT_NE(fresh.body.find("closed the connection before a response"), std::string::npos) << fresh.body;
  EXPECT_EQ(fake_->requests(), 1u) << "a new connection that fails is not tried again";

  fake_->set_close_reused_connections(1);
  RunResult r = run({"curl", "-q", "-sS", "--noproxy", "*", "--max-time", "20", "-o", "/dev/null", "-o", "/dev/null",
                     "-w", "%{http_code}\n", base("api-openai") + "/v1/models", base("api-openai") + "/v1/models"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200\n200\n");
  auto all = fake_->recorded_requests();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[2].status, 0);  // dropped on the reused connection
  EXPECT_EQ(all[2].connection, all[1].connection);
  EXPECT_EQ(all[3].status, 200);
  EXPECT_NE(all[3].connection, all[2].connection);
}

// §8.30: a WebSocket upgrade carries the real key; after the provider's 101
// frames travel both ways; the model policy reads ?model=.
TEST_F(ApiProxyTest, WebSocketUpgradeCarriesTheRealKeyAndIsRelayed) {
  start_default({}, {R"(AWF_ALLOWED_MODELS=["gpt-5*"])"});
  RunResult py = python(kWebSocketClient, {"127.0.0.1", std::to_string(port("api-openai")), "/v1/responses?model=gpt-5.1"});
  ASSERT_EQ(py.exit_code, 0) << py.err;
  const boost::json::value out = parse_json(py.out);
  ASSERT_TRUE(out.is_object()) << py.out;
  EXPECT_EQ(out.at("status").as_int64(), 101) << py.out;
  EXPECT_TRUE(out.at("accept_ok").as_bool()) << py.out;
  EXPECT_EQ(json_string_at(out, {"echo"}), "hello through the proxy");
  auto req = fake_->last_request();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->header("authorization"), std::optional<std::string>(std::string("Bearer ") + kOpenAiKey));
  EXPECT_EQ(req->target, "/v1/responses?model=gpt-5.1");
  EXPECT_EQ(fake_->websocket_messages(), std::vector<std::string>{"hello through the proxy"});

  const std::size_t before = fake_->requests();
  RunResult refused = python(kWebSocketClient, {"127.0.0.1", std::to_string(port("api-openai")), "/v1/responses?model=gpt-4o"});
  ASSERT_EQ(refused.exit_code, 0) << refused.err;
  const boost::json::value denied = parse_json(refused.out);
  EXPECT_EQ(denied.at("status").as_int64(), 403) << refused.out;
  EXPECT_NE(json_string_at(denied, {"body"}).find("model_policy_violation"), std::string::npos) << refused.out;
  EXPECT_EQ(fake_->requests(), before);
}

// §8.31: the provider's host is not in the agent's allowlist: the agent's
// own CONNECT to it is denied, the API proxy reaches it.
TEST_F(ApiProxyTest, ProviderHostOutsideTheAllowlistIsReachedOnlyByTheApiProxy) {
  start_default({"--listen", "127.0.0.1:0", "--allow-domains", "allowed.test"});
  ASSERT_NE(port("forward"), 0);
  RunResult direct = run({"curl", "-q", "-sS", "-o", "/dev/null", "-w", "%{http_connect}", "--max-time", "20", "-x",
                          "127.0.0.1:" + std::to_string(port("forward")), "--cacert", fake_->ca_cert_path(),
                          "https://api.openai.test/v1/models"});
  EXPECT_NE(direct.exit_code, 0);
  EXPECT_EQ(direct.out, "403") << direct.err;
  EXPECT_EQ(fake_->connections(), 0u);
  EXPECT_EQ(curl(base("api-openai") + "/v1/models").status, 200);
  EXPECT_EQ(fake_->requests(), 1u);
}

// §8.32: --api-ca-cert adds a CA to the system's store: a provider signed
// by it and one signed by a CA of the "system" store (SSL_CERT_FILE stands
// in for it here) both verify.
TEST_F(ApiProxyTest, ExtraCaIsTrustedBesideTheSystemStore) {
  auto system_signed = start_fake();
  auto extra_signed = start_fake();
  ASSERT_TRUE(system_signed && extra_signed);
  name_host("api.openai.test", system_signed->host());
  name_host("api.anthropic.test", extra_signed->host());
  const std::vector<std::string> args = {
      "--api-listen", "openai=127.0.0.1:0", "--api-listen", "anthropic=127.0.0.1:0", "--api-target",
      "openai=api.openai.test", "--api-target", "anthropic=api.anthropic.test", "--api-key",
      "openai=env:TEST_OPENAI_SECRET", "--api-key", "anthropic=env:TEST_ANTHROPIC_SECRET"};
  const std::vector<std::string> env = {std::string("TEST_OPENAI_SECRET=") + kOpenAiKey,
                                        std::string("TEST_ANTHROPIC_SECRET=") + kAnthropicKey,
                                        "SSL_CERT_FILE=" + system_signed->ca_cert_path()};
  auto with_extra = args;
  with_extra.insert(with_extra.end(), {"--api-ca-cert", extra_signed->ca_cert_path()});
  start_proxy(with_extra, env);
  EXPECT_EQ(curl(base("api-openai") + "/v1/models").status, 200);
  EXPECT_EQ(curl(base("api-anthropic") + "/v1/models").status, 200);
  EXPECT_EQ(system_signed->requests(), 1u);
  EXPECT_EQ(extra_signed->requests(), 1u);
  TearDown();

  // Without the extra CA the second provider does not verify.
  proxy_.reset();
  ports_.clear();
  start_proxy(args, env);
  HttpReply refused = curl(base("api-anthropic") + "/v1/models");
  EXPECT_EQ(refused.status, 502);
  EXPECT_NE(refused.body.find("TLS certificate verification failed for api.anthropic.test"), std::string::npos)
      << refused.body;
  EXPECT_EQ(extra_signed->requests(), 1u);
}

// A certificate that is self-signed, or issued for another name, stops the
// request before a byte of it is sent: 502 naming the verification error.
TEST_F(ApiProxyTest, CertificateVerificationFailuresAre502NamingTheError) {
  struct Case {
    FakeProvider::Certificate certificate;
    const char* error;
  };
  for (const Case c : {Case{FakeProvider::Certificate::self_signed, "self-signed certificate"},
                       Case{FakeProvider::Certificate::wrong_name, "hostname mismatch"}}) {
    SCOPED_TRACE(c.error);
    FakeProvider::Options options;
    options.certificate = c.certificate;
    start_default({}, {}, options);
    HttpReply r = chat();
    EXPECT_EQ(r.status, 502) << r.raw_head;
    EXPECT_NE(r.body.find(std::string("TLS certificate verification failed for api.openai.test: ") + c.error),
              std::string::npos)
        << r.body;
    EXPECT_EQ(fake_->requests(), 0u);
    EXPECT_GE(fake_->failed_handshakes(), 1u);
    TearDown();
    proxy_.reset();
    ports_.clear();
    hosts_.clear();
  }
}

// Each wait has a deadline, named where it fires: connect and first byte
// in the 502, idle between body pieces by the end of the connection.
TEST_F(ApiProxyTest, TimeoutsFireWithTheirNames) {
  const std::string silent_address = fresh_loopback();
  auto silent = awf::testing::IdleListener::open(silent_address, 443, true);
  ASSERT_TRUE(silent);
  name_host("api.silent.test", silent_address);
  start_default({"--api-listen", "copilot=127.0.0.1:0", "--api-target", "copilot=api.silent.test", "--api-key",
                 "copilot=env:TEST_OPENAI_SECRET", "--connect-timeout", "1", "--read-timeout", "1"});

  const auto t0 = std::chrono::steady_clock::now();
  HttpReply connect = curl(base("api-copilot") + "/chat/completions",
                           {"-H", "Content-Type: application/json", "--data-binary", R"({"model":"m","messages":[]})"});
  EXPECT_EQ(connect.status, 502);
  EXPECT_NE(connect.body.find("connect timeout: no connection to api.silent.test within 1 s"), std::string::npos)
      << connect.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

  fake_->set_first_byte_delay(3s);
  HttpReply first_byte = chat();
  EXPECT_EQ(first_byte.status, 502);
  EXPECT_NE(first_byte.body.find("first-byte timeout: no response head from api.openai.test within 1 s"),
            std::string::npos)
      << first_byte.body;
  fake_->set_first_byte_delay(0ms);

  // Two events, then silence: the agent gets them, then the connection
  // ends without the final chunk.
  fake_->set_stream(5, 50ms);
  fake_->set_stall_after_events(2);
  RunResult stalled = run({"curl", "-q", "-sS", "-N", "--noproxy", "*", "--max-time", "20", "-H",
                           "Content-Type: application/json", "--data-binary",
                           R"({"model":"gpt-test","stream":true,"messages":[]})",
                           base("api-openai") + "/v1/chat/completions"});
  EXPECT_NE(stalled.exit_code, 0);  // curl: transfer closed with outstanding read data
  EXPECT_NE(stalled.out.find("part-2"), std::string::npos) << stalled.out;
  EXPECT_EQ(stalled.out.find("part-3"), std::string::npos) << stalled.out;
  EXPECT_TRUE(proxy_->wait_for_stderr("response cut: idle timeout: nothing moved within 1 s", 5s))
      << proxy_->stderr_text();
}

// Agent connections are kept alive between requests.
TEST_F(ApiProxyTest, AgentConnectionIsReusedBetweenRequests) {
  start_default();
  RunResult r = run({"curl", "-q", "-sS", "-v", "--noproxy", "*", "--max-time", "20", base("api-openai") + "/v1/models",
                     base("api-openai") + "/v1/models"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Re-using existing connection"), std::string::npos) << r.err;
  EXPECT_EQ(fake_->requests(), 2u);
}

// §8.33: no log line or diagnostic holds the key or any 4-character piece
// of it, nor a secret BYOK host, even when the agent puts pieces of the key
// into the path, the model and the request id.
TEST_F(ApiProxyTest, NoLogLineHoldsAPieceOfAKeyOrASecretHost) {
  // The BYOK host resolves to the fake, whose certificate does not name it:
  // a 502 that must not name the host either.
  start_default({"--api-listen", "copilot=127.0.0.1:0", "--log-level", "debug"},
                {"COPILOT_PROVIDER_BASE_URL=https://tenant-hidden.byok.test/gw",
                 std::string("COPILOT_PROVIDER_API_KEY=") + kByokKey, R"(AWF_DISALLOWED_MODELS=["*f3kq9*"])"},
                {}, {"tenant-hidden.byok.test"});
  const std::string key(kOpenAiKey);
  // A model refused by the policy, a request id and a path made of pieces
  // of the key; the key itself in the path and query.
  HttpReply refused = chat(R"({"model":"gpt-)" + key.substr(4, 9) + R"(","messages":[]})",
                           {"X-Request-ID: id-" + key.substr(3, 8), "Authorization: Bearer " + key});
  EXPECT_EQ(refused.status, 403) << refused.body;
  curl(base("api-openai") + "/v1/" + key + "/x?token=" + key);
  curl(base("api-openai") + "/v1/models/" + key.substr(10, 6) + "x");
  HttpReply byok = curl(base("api-copilot") + "/chat/completions",
                        {"-H", "Content-Type: application/json", "--data-binary",
                         R"({"model":"m)" + std::string(kByokKey).substr(2) + R"("})"});
  EXPECT_EQ(byok.status, 502) << byok.body;
  EXPECT_NE(byok.body.find("verification failed for [REDACTED]: hostname mismatch"), std::string::npos) << byok.body;
  awf::testing::write_file(dir_.file("big"), std::string(10485761, 'k'));
  curl(base("api-openai") + "/v1/files", {"--data-binary", "@" + dir_.file("big")});
  ASSERT_GE(log_lines(5).size(), 5u);
  std::this_thread::sleep_for(100ms);

  const std::vector<std::string> secrets = {kOpenAiKey, kAnthropicKey, kGeminiKey, kByokKey};
  const std::string texts[] = {awf::testing::read_file(dir_.file("access.log")),
                               awf::testing::read_file(dir_.file("audit.jsonl")), proxy_->stderr_text()};
  for (const auto& text : texts) {
    EXPECT_EQ(text.find("tenant-hidden"), std::string::npos) << text;
    for (const auto& secret : secrets) {
      for (std::size_t i = 0; i + 4 <= secret.size(); ++i) {
        EXPECT_EQ(text.find(secret.substr(i, 4)), std::string::npos) << "\"" << secret.substr(i, 4) << "\" in\n" << text;
      }
    }
  }
  // The lines are there, redacted.
  EXPECT_NE(texts[0].find("[REDACTED]"), std::string::npos) << texts[0];
  EXPECT_NE(texts[1].find("\"event\":\"api_request\""), std::string::npos) << texts[1];
}

// The line per request in both logs: provider, method, upstream URL with
// the query cut, model, status, bytes, duration.
TEST_F(ApiProxyTest, EveryRequestHasOneAccessLineAndOneAuditLine) {
  start_default({"--log-format", "squid"});
  HttpReply r = chat(R"({"model":"gpt-test","messages":[]})", {"X-Request-ID: req-1"});
  EXPECT_EQ(r.status, 200);
  curl(base("api-openai") + "/health");
  auto access = log_lines(2);
  auto audit = log_lines(2, "audit.jsonl");
  ASSERT_EQ(access.size(), 2u);
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_TRUE(std::regex_search(access[0], std::regex(R"(^\d+\.\d{3} +\d+ 127\.0\.0\.1 TCP_MISS/200 \d+ POST )"
                                                      R"(https://api\.openai\.test/v1/chat/completions )"
                                                      R"(provider=openai,model=gpt-test HIER_DIRECT/127\.[0-9.]+ )"
                                                      R"(application/json$)")))
      << access[0];
  EXPECT_TRUE(std::regex_search(access[1], std::regex(R"( NONE_NONE/200 \d+ GET https://api\.openai\.test/health )"
                                                      R"(provider=openai,model=- HIER_NONE/- application/json$)")))
      << access[1];
  const boost::json::value line = parse_json(audit[0]);
  ASSERT_TRUE(line.is_object()) << audit[0];
  EXPECT_EQ(json_string_at(line, {"event"}), "api_request");
  EXPECT_EQ(json_string_at(line, {"provider"}), "openai");
  EXPECT_EQ(json_string_at(line, {"model"}), "gpt-test");
  EXPECT_EQ(json_string_at(line, {"request_id"}), "req-1");
  EXPECT_EQ(json_string_at(line, {"method"}), "POST");
  EXPECT_EQ(json_string_at(line, {"url"}), "https://api.openai.test/v1/chat/completions");
  EXPECT_EQ(line.at("status").as_int64(), 200);
  EXPECT_EQ(line.at("request_bytes").as_int64(), 34);
  EXPECT_GT(line.at("response_bytes").as_int64(), 100);
  EXPECT_TRUE(line.at("duration_ms").is_int64());
}

// ---- Anthropic workload identity federation ---------------------------------
// AWF_AUTH_TYPE=github-oidc with AWF_AUTH_PROVIDER=anthropic: the proxy asks
// the fake (as the GitHub Actions runtime, token.actions.test) for an
// identity token, exchanges it at the fake (as api.anthropic.test) and sends
// the access token upstream.

// Random-looking, so that no 4-character piece is also a word logs hold.
constexpr const char* kActionsRequestToken = "Rt9Xq2Vw7Kp4Zm8Ln3";
constexpr const char* kIdentityJwt = "eyJ0eXAiOiJKV1QifQ.Zk3qW9vB2xT7mR4p.Hn6Ls8Dc1Yf5Jg0u";
constexpr const char* kAccessTokenPrefix = "Ao7Hw2Tz5Qx";

class FederationTest : public ApiProxyTest {
 protected:
  void start_federated(FakeProvider::Federation federation, std::vector<std::string> extra = {}) {
    FakeProvider::Options options;
    options.dns_names.push_back("token.actions.test");
    federation.request_token = kActionsRequestToken;
    federation.identity_jwt = kIdentityJwt;
    federation.access_token_prefix = kAccessTokenPrefix;
    options.federation = federation;
    fake_ = start_fake(options);
    ASSERT_TRUE(fake_);
    name_host("api.anthropic.test", fake_->host());
    name_host("token.actions.test", fake_->host());
    std::vector<std::string> args = {"--api-listen", "anthropic=127.0.0.1:0", "--api-listen", "openai=127.0.0.1:0",
                                     "--api-target", "anthropic=api.anthropic.test", "--api-ca-cert",
                                     fake_->ca_cert_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    // Options of env(1) first: none of the runner's own OIDC settings.
    start_proxy(args, {"-u", "AWF_AUTH_OIDC_AUDIENCE", "-u", "AWF_AUTH_ANTHROPIC_WORKSPACE_ID",
                       "AWF_AUTH_TYPE=github-oidc", "AWF_AUTH_PROVIDER=anthropic",
                       "AWF_AUTH_ANTHROPIC_FEDERATION_RULE_ID=fdrl_01test",
                       "AWF_AUTH_ANTHROPIC_ORGANIZATION_ID=0c5e7a1d-org", "AWF_AUTH_ANTHROPIC_SERVICE_ACCOUNT_ID=svac_01test",
                       "AWF_AUTH_ANTHROPIC_TOKEN_URL=https://api.anthropic.test/v1/oauth/token",
                       "ACTIONS_ID_TOKEN_REQUEST_URL=https://token.actions.test/_apis/run/idtoken?api-version=2.0",
                       std::string("ACTIONS_ID_TOKEN_REQUEST_TOKEN=") + kActionsRequestToken});
  }

  HttpReply messages(std::vector<std::string> headers = {}) const {
    std::vector<std::string> extra = {"-H", "Content-Type: application/json", "--data-binary",
                                      R"({"model":"claude-test","max_tokens":5,"messages":[]})"};
    for (const auto& h : headers) extra.insert(extra.end(), {"-H", h});
    return curl(base("api-anthropic") + "/v1/messages", extra);
  }

  static bool is_token_request(const awf::testing::RecordedRequest& r) {
    const std::string path = r.target.substr(0, r.target.find('?'));
    return path.ends_with("/idtoken") || path.ends_with("/oauth/token");
  }

  // What reached the fake as the provider, the token source's requests left out.
  std::vector<awf::testing::RecordedRequest> api_requests() const {
    std::vector<awf::testing::RecordedRequest> out;
    for (auto& r : fake_->recorded_requests()) {
      if (!is_token_request(r)) out.push_back(r);
    }
    return out;
  }

  std::vector<awf::testing::RecordedRequest> requests_to(std::string_view path_end) const {
    std::vector<awf::testing::RecordedRequest> out;
    for (auto& r : fake_->recorded_requests()) {
      if (r.target.substr(0, r.target.find('?')).ends_with(path_end)) out.push_back(r);
    }
    return out;
  }

  // True once the Anthropic listener's /health says a token is held.
  bool wait_for_token(std::chrono::milliseconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (curl(base("api-anthropic") + "/health").status == 200) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
};

// §8.11: Anthropic WIF: `Authorization: Bearer <token>`, no `x-api-key`,
// `anthropic-beta` = the client's betas + `oauth-2025-04-20` once; the
// token is the one the exchange gave, and the two requests that got it
// have the shapes Actions and Anthropic expect.
TEST_F(FederationTest, RequestsCarryTheExchangedTokenAndTheOAuthBetaOnce) {
  start_federated({});
  ASSERT_TRUE(wait_for_token(15s)) << proxy_->stderr_text();
  HttpReply r = messages({"x-api-key: sk-ant-placeholder-key-for-credential-isolation", "Authorization: Bearer agent",
                          "anthropic-beta: b1,oauth-2025-04-20", "anthropic-beta: b2, b1"});
  EXPECT_EQ(r.status, 200) << r.raw_head << r.body;
  const auto issued = fake_->issued_access_tokens();
  ASSERT_EQ(issued.size(), 1u);
  const auto sent = api_requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].header("authorization"), std::optional<std::string>("Bearer " + issued[0]));
  EXPECT_EQ(sent[0].header_count("authorization"), 1u);
  EXPECT_EQ(sent[0].header_count("x-api-key"), 0u);
  EXPECT_EQ(sent[0].header("anthropic-beta"), std::optional<std::string>("b1,oauth-2025-04-20,b2"));
  EXPECT_EQ(sent[0].header_count("anthropic-beta"), 1u);

  const auto minted = requests_to("/idtoken");
  ASSERT_EQ(minted.size(), 1u);
  EXPECT_EQ(minted[0].method, "GET");
  EXPECT_EQ(minted[0].target, "/_apis/run/idtoken?api-version=2.0&audience=https%3A%2F%2Fapi.anthropic.com");
  EXPECT_EQ(minted[0].header("authorization"), std::optional<std::string>(std::string("Bearer ") + kActionsRequestToken));
  EXPECT_EQ(minted[0].sni, "token.actions.test");
  const auto exchanged = requests_to("/oauth/token");
  ASSERT_EQ(exchanged.size(), 1u);
  EXPECT_EQ(exchanged[0].method, "POST");
  EXPECT_EQ(exchanged[0].target, "/v1/oauth/token");
  EXPECT_EQ(exchanged[0].sni, "api.anthropic.test");
  EXPECT_EQ(exchanged[0].header("content-type"), std::optional<std::string>("application/json"));
  EXPECT_EQ(exchanged[0].header("anthropic-beta"), std::optional<std::string>("oauth-2025-04-20,oidc-federation-2026-04-01"));
  const boost::json::value grant = parse_json(exchanged[0].body);
  ASSERT_TRUE(grant.is_object()) << exchanged[0].body;
  EXPECT_EQ(json_string_at(grant, {"grant_type"}), "urn:ietf:params:oauth:grant-type:jwt-bearer");
  EXPECT_EQ(json_string_at(grant, {"assertion"}), kIdentityJwt);
  EXPECT_EQ(json_string_at(grant, {"federation_rule_id"}), "fdrl_01test");
  EXPECT_EQ(json_string_at(grant, {"organization_id"}), "0c5e7a1d-org");
  EXPECT_EQ(json_string_at(grant, {"service_account_id"}), "svac_01test");
  EXPECT_FALSE(grant.as_object().contains("workspace_id"));
}

// §8.25: while the token is pending (the Actions runtime keeps failing) the
// Anthropic listener answers 503 retryable:true with the request id and
// nothing reaches the provider; once a token arrives, requests pass.
TEST_F(FederationTest, PendingTokenIs503RetryableThenRequestsPass) {
  FakeProvider::Federation federation;
  federation.identity_available = false;
  start_federated(federation);
  ASSERT_TRUE(fake_->wait_for_requests(1, 10s)) << "the token source asked";
  HttpReply r = messages({"X-Request-ID: pending-1"});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["x-request-id"], "pending-1");
  const boost::json::value body = parse_json(r.body);
  EXPECT_EQ(json_string_at(body, {"error", "type"}), "provider_not_configured");
  EXPECT_EQ(json_string_at(body, {"error", "provider"}), "anthropic");
  ASSERT_TRUE(body.is_object()) << r.body;
  EXPECT_EQ(body.at("error").at("retryable"), boost::json::value(true)) << r.body;
  EXPECT_EQ(body.at("error").at("port"), boost::json::value(10001)) << r.body;
  HttpReply health = curl(base("api-anthropic") + "/health");
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(json_string_at(parse_json(health.body), {"status"}), "unavailable");
  EXPECT_TRUE(api_requests().empty());
  EXPECT_TRUE(fake_->issued_access_tokens().empty());

  fake_->set_identity_available(true);
  HttpReply passed;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    passed = messages();
    if (passed.status != 503) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(passed.status, 200) << passed.body;
  const auto issued = fake_->issued_access_tokens();
  ASSERT_EQ(issued.size(), 1u);
  const auto sent = api_requests();
  ASSERT_EQ(sent.size(), 1u) << "503s never reached the provider";
  EXPECT_EQ(sent[0].header("authorization"), std::optional<std::string>("Bearer " + issued[0]));
}

// The next token is fetched before the current one expires: with a 4 s
// lifetime, a quarter of it (1 s) after each exchange, not in a loop, and
// requests carry the newer tokens.
TEST_F(FederationTest, TokensAreRefreshedBeforeTheyExpire) {
  FakeProvider::Federation federation;
  federation.expires_in = 4;
  start_federated(federation);
  ASSERT_TRUE(wait_for_token(15s)) << proxy_->stderr_text();
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (fake_->issued_access_tokens().size() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  const auto exchanges = requests_to("/oauth/token");
  ASSERT_GE(exchanges.size(), 3u) << proxy_->stderr_text();
  for (std::size_t i = 1; i < exchanges.size(); ++i) {
    const auto gap = exchanges[i].arrived - exchanges[i - 1].arrived;
    EXPECT_LT(gap, 4s) << "exchange " << i << " came after the previous token expired";
    EXPECT_GT(gap, 800ms) << "exchange " << i << " came too soon";
  }
  HttpReply r = messages();
  EXPECT_EQ(r.status, 200) << r.body;
  const auto issued = fake_->issued_access_tokens();
  const auto sent = api_requests();
  ASSERT_EQ(sent.size(), 1u);
  const auto auth = sent[0].header("authorization").value_or("");
  EXPECT_NE(auth, "Bearer " + issued[0]) << "the first token was replaced";
  EXPECT_TRUE(auth.starts_with(std::string("Bearer ") + kAccessTokenPrefix)) << auth;
}

// §8.33 for federation: no log line holds the Actions request token, the
// identity JWT or an access token, or any 4-character piece of them, even
// when the exchange quotes the JWT back in an error that is logged.
TEST_F(FederationTest, NoLogLineHoldsAPieceOfTheRequestTokenJwtOrAccessToken) {
  FakeProvider::Federation federation;
  federation.failing_exchanges = 1;
  start_federated(federation, {"--log-level", "debug"});
  ASSERT_TRUE(wait_for_token(15s)) << proxy_->stderr_text();
  EXPECT_EQ(messages().status, 200);
  curl(base("api-anthropic") + "/v1/models");
  ASSERT_GE(log_lines(3).size(), 3u);
  std::this_thread::sleep_for(100ms);

  std::vector<std::string> secrets = {kActionsRequestToken, kIdentityJwt};
  for (const auto& t : fake_->issued_access_tokens()) secrets.push_back(t);
  ASSERT_EQ(secrets.size(), 3u);
  const std::string texts[] = {awf::testing::read_file(dir_.file("access.log")),
                               awf::testing::read_file(dir_.file("audit.jsonl")), proxy_->stderr_text()};
  for (const auto& text : texts) {
    for (const auto& secret : secrets) {
      for (std::size_t i = 0; i + 4 <= secret.size(); ++i) {
        EXPECT_EQ(text.find(secret.substr(i, 4)), std::string::npos) << "\"" << secret.substr(i, 4) << "\" in\n" << text;
      }
    }
  }
  // The refused exchange was logged, with the JWT it quoted redacted.
  EXPECT_NE(texts[2].find("assertion rejected: [REDACTED]"), std::string::npos) << texts[2];
}

}  // namespace
}  // namespace awf::api_proxy_test
