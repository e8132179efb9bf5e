// Tests of the fake LLM provider itself, driven by the real curl (and python3
// for the WebSocket frames), on loopback only: names reach it through
// curl's --resolve, never through a hosts lookup.
#include "awf/testing/fake_provider.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "awf/testing/facility.h"
#include "awf/testing/files.h"
#include "awf/testing/process.h"

namespace awf::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kHost = "127.0.0.23";
constexpr const char* kOpenAi = "api.openai.test";

bool have_program(const std::string& name) {
  return run({"sh", "-c", "command -v " + name}, 10s).exit_code == 0;
}

class FakeProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AWF_REQUIRE_FACILITY(have_program("curl"), "curl");
    AWF_REQUIRE_FACILITY(have_program("openssl"), "openssl");
  }

  std::unique_ptr<FakeProvider> start(FakeProvider::Options options = {}) {
    options.host = kHost;
    options.cert_dir = dir_.path();
    auto fake = FakeProvider::start(options);
    EXPECT_NE(fake, nullptr);
    return fake;
  }

  // curl for `name`, pinned to the fake's address; `-i` puts the response
  // head in front of the body. Without `ca` curl uses the system's roots.
  static std::vector<std::string> curl(const FakeProvider& fake, const std::string& name, const std::string& ca) {
    std::vector<std::string> argv = {"curl", "-q", "-sS", "-i", "--noproxy", "*", "--max-time", "20", "--resolve",
                                     name + ":" + std::to_string(fake.port()) + ":" + fake.host()};
    if (!ca.empty()) {
      argv.push_back("--cacert");
      argv.push_back(ca);
    }
    return argv;
  }

  static std::string url(const FakeProvider& fake, const std::string& name, const std::string& path) {
    return "https://" + name + ":" + std::to_string(fake.port()) + path;
  }

  // POSTs `body` as JSON to `path` on api.openai.test with the fake's CA.
  static RunResult post(const FakeProvider& fake, const std::string& path, const std::string& body,
                        std::vector<std::string> extra = {}) {
    auto argv = curl(fake, kOpenAi, fake.ca_cert_path());
    argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", body});
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url(fake, kOpenAi, path));
    return run(argv);
  }

  static std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }

  TempDir dir_;
};

TEST_F(FakeProviderTest, VerifiesAgainstItsOwnCaAndRecordsTheSni) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
  argv.push_back(url(*fake, kOpenAi, "/v1/models"));
  RunResult r = run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_line(r.out), "HTTP/1.1 200 OK");
  EXPECT_NE(r.out.find("\"gpt-fake-1\""), std::string::npos) << r.out;
  auto req = fake->last_request();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->sni, kOpenAi);
  EXPECT_EQ(req->method, "GET");
  EXPECT_EQ(req->target, "/v1/models");
}

TEST_F(FakeProviderTest, EveryNameAskedForAndTheBoundAddressVerify) {
  FakeProvider::Options options;
  options.dns_names = {"api.anthropic.test", "generativelanguage.test"};
  auto fake = start(options);
  ASSERT_NE(fake, nullptr);
  for (std::string name : {"api.anthropic.test", "generativelanguage.test"}) {
    auto argv = curl(*fake, name, fake->ca_cert_path());
    argv.push_back(url(*fake, name, "/v1/models"));
    RunResult r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
  }
  // A name the leaf does not list fails; the IP address it is bound to works
  // (and a client sends no SNI for an IP address).
  auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
  argv.push_back(url(*fake, kOpenAi, "/v1/models"));
  EXPECT_EQ(run(argv).exit_code, 60);
  argv = curl(*fake, kOpenAi, fake->ca_cert_path());
  argv.push_back("https://" + std::string(kHost) + ":" + std::to_string(fake->port()) + "/v1/models");
  RunResult r = run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fake->last_request()->sni, "");
}

TEST_F(FakeProviderTest, FailsVerificationWithoutItsCa) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  auto argv = curl(*fake, kOpenAi, "");
  argv.push_back(url(*fake, kOpenAi, "/v1/models"));
  RunResult r = run(argv);
  EXPECT_EQ(r.exit_code, 60) << r.err;  // CURLE_PEER_FAILED_VERIFICATION
  EXPECT_EQ(fake->requests(), 0u);
  auto deadline = Clock::now() + 5s;
  while (fake->failed_handshakes() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(fake->failed_handshakes(), 1u);
}

TEST_F(FakeProviderTest, SelfSignedLeafFailsVerificationWithTheCa) {
  FakeProvider::Options options;
  options.certificate = FakeProvider::Certificate::self_signed;
  auto fake = start(options);
  ASSERT_NE(fake, nullptr);
  // Not issued by the CA...
  EXPECT_NE(run({"openssl", "verify", "-CAfile", fake->ca_cert_path(), fake->cert_path()}).exit_code, 0);
  auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
  argv.push_back(url(*fake, kOpenAi, "/v1/models"));
  EXPECT_EQ(run(argv).exit_code, 60);
  // ...though it is good for the name: trusting the leaf itself works.
  argv = curl(*fake, kOpenAi, fake->cert_path());
  argv.push_back(url(*fake, kOpenAi, "/v1/models"));
  RunResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fake->requests(), 1u);
}

TEST_F(FakeProviderTest, WrongNameLeafFailsVerificationOnTheNameOnly) {
  FakeProvider::Options options;
  options.certificate = FakeProvider::Certificate::wrong_name;
  auto fake = start(options);
  ASSERT_NE(fake, nullptr);
  RunResult verify = run({"openssl", "verify", "-CAfile", fake->ca_cert_path(), fake->cert_path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
  argv.push_back(url(*fake, kOpenAi, "/v1/models"));
  RunResult r = run(argv);
  EXPECT_EQ(r.exit_code, 60) << r.err;
  EXPECT_EQ(fake->requests(), 0u);
}

TEST_F(FakeProviderTest, ChatCompletionEchoesTheModel) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  RunResult r = post(*fake, "/v1/chat/completions",
                     R"({"messages":[{"role":"user","content":"say \"model\": 1"}],"model":"gpt-fake-\u0034o"})");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_line(r.out), "HTTP/1.1 200 OK");
  EXPECT_NE(r.out.find("Content-Type: application/json"), std::string::npos);
  EXPECT_NE(r.out.find(R"("object":"chat.completion")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("model":"gpt-fake-4o")"), std::string::npos) << r.out;
}

TEST_F(FakeProviderTest, RecordsMethodTargetHeadersInOrderBodyAndArrival) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  std::string body = R"({"model":"m","messages":[]})";
  auto before = Clock::now();
  RunResult r = post(*fake, "/v1/chat/completions?api-version=1", body,
                     {"-H", "authorization: Bearer agent-supplied", "-H", "X-Mixed-CASE: one", "-H", "x-second: two"});
  auto after = Clock::now();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fake->wait_for_requests(1, 5s));
  auto req = fake->request(0);
  ASSERT_TRUE(req);
  EXPECT_EQ(req->method, "POST");
  EXPECT_EQ(req->target, "/v1/chat/completions?api-version=1");
  EXPECT_EQ(req->version, "HTTP/1.1");
  EXPECT_EQ(req->body, body);
  EXPECT_FALSE(req->chunked);
  EXPECT_EQ(req->header("Authorization"), "Bearer agent-supplied");
  EXPECT_EQ(req->header_count("content-type"), 1u);
  EXPECT_EQ(req->status, 200);
  EXPECT_GE(req->arrived, before);
  EXPECT_LE(req->arrived, after);
  // Names keep the client's spelling, and the order it sent them in.
  auto at = [&](const std::string& name) {
    for (std::size_t i = 0; i < req->headers.size(); ++i)
      if (req->headers[i].first == name) return static_cast<int>(i);
    return -1;
  };
  EXPECT_EQ(req->headers.front().first, "Host");
  EXPECT_EQ(req->headers.front().second, std::string(kOpenAi) + ":" + std::to_string(fake->port()));
  ASSERT_GE(at("X-Mixed-CASE"), 0);
  EXPECT_EQ(req->headers[static_cast<std::size_t>(at("X-Mixed-CASE"))].second, "one");
  EXPECT_LT(at("authorization"), at("X-Mixed-CASE"));
  EXPECT_LT(at("X-Mixed-CASE"), at("x-second"));
}

TEST_F(FakeProviderTest, ChunkedRequestBodyIsRecordedDecoded) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  // Large enough for several chunks and for curl's Expect: 100-continue.
  std::string body = R"({"model":"m","pad":")" + std::string(1536 * 1024, 'x') + "\"}";
  write_file(dir_.file("body.json"), body);
  RunResult r = post(*fake, "/v1/chat/completions", "@" + dir_.file("body.json"), {"-H", "Transfer-Encoding: chunked"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto req = fake->last_request();
  ASSERT_TRUE(req);
  EXPECT_TRUE(req->chunked);
  EXPECT_EQ(req->body.size(), body.size());
  EXPECT_EQ(sha256_hex(req->body), sha256_hex(body));
}

TEST_F(FakeProviderTest, StreamedChatCompletionReachesTheClientBeforeItEnds) {
  FakeProvider::Options options;
  options.stream_events = 5;
  options.event_delay = 100ms;
  auto fake = start(options);
  ASSERT_NE(fake, nullptr);
  auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
  argv.insert(argv.end(), {"-N", "--data-binary", R"({"model":"gpt-s","stream":true})",
                           url(*fake, kOpenAi, "/v1/chat/completions")});
  auto proc = Process::spawn(argv);
  std::optional<Clock::time_point> first_seen;
  for (auto deadline = Clock::now() + 10s; Clock::now() < deadline && !first_seen;) {
    if (proc->stdout_text().find("data: ") != std::string::npos) first_seen = Clock::now();
    else std::this_thread::sleep_for(2ms);
  }
  ASSERT_TRUE(first_seen) << proc->stderr_text();
  ASSERT_EQ(proc->wait(20s), 0) << proc->stderr_text();
  std::string out = proc->stdout_text();
  EXPECT_NE(out.find("Content-Type: text/event-stream"), std::string::npos) << out;
  EXPECT_NE(out.find("Transfer-Encoding: chunked"), std::string::npos) << out;
  std::size_t chunks = 0;
  for (std::size_t at = 0; (at = out.find("chat.completion.chunk", at)) != std::string::npos; ++at) ++chunks;
  EXPECT_EQ(chunks, 5u);
  EXPECT_NE(out.find(R"("model":"gpt-s")"), std::string::npos);
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n")) << out;
  auto req = fake->last_request();
  ASSERT_TRUE(req);
  ASSERT_EQ(req->events_sent.size(), 6u);  // five chunks and [DONE]
  EXPECT_LT(*first_seen, req->events_sent.back());
  EXPECT_GE(req->events_sent.back() - req->events_sent.front(), 5 * 100ms - 10ms);
}

TEST_F(FakeProviderTest, StreamOptionsIncludeUsageAddsAUsageChunk) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  fake->set_stream(2, 0ms);
  RunResult plain = post(*fake, "/v1/chat/completions", R"({"stream":true})");
  RunResult usage =
      post(*fake, "/v1/chat/completions", R"({"stream":true,"stream_options":{"include_usage":true}})");
  ASSERT_EQ(plain.exit_code, 0);
  ASSERT_EQ(usage.exit_code, 0);
  EXPECT_EQ(plain.out.find(R"("usage")"), std::string::npos) << plain.out;
  EXPECT_NE(usage.out.find(R"("choices":[],"usage")"), std::string::npos) << usage.out;
}

TEST_F(FakeProviderTest, SetNextStatusAnswersTheNextRequestsThenRoutesAgain) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  fake->set_next_status(429, R"({"error":{"type":"rate_limit_error"}})", {{"Retry-After", "7"}}, 2);
  fake->set_next_status(500, "boom", {{"Content-Type", "text/plain"}});
  for (int i = 0; i < 2; ++i) {
    RunResult r = post(*fake, "/v1/chat/completions", R"({"model":"m"})");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(status_line(r.out), "HTTP/1.1 429 Too Many Requests");
    EXPECT_NE(r.out.find("Retry-After: 7\r\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("Content-Type: application/json\r\n"), std::string::npos) << r.out;
    EXPECT_TRUE(r.out.ends_with(R"({"error":{"type":"rate_limit_error"}})")) << r.out;
  }
  RunResult r = post(*fake, "/v1/messages", R"({"model":"m"})");
  EXPECT_EQ(status_line(r.out), "HTTP/1.1 500 Internal Server Error");
  EXPECT_NE(r.out.find("Content-Type: text/plain\r\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("application/json"), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.ends_with("\r\n\r\nboom")) << r.out;
  r = post(*fake, "/v1/chat/completions", R"({"model":"m"})");
  EXPECT_EQ(status_line(r.out), "HTTP/1.1 200 OK");
  auto all = fake->recorded_requests();
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].status, 429);
  EXPECT_EQ(all[2].status, 500);
  EXPECT_EQ(all[3].status, 200);
}

TEST_F(FakeProviderTest, RejectedAnthropicBetaGetsAnthropicsRefusal) {
  FakeProvider::Options options;
  options.rejected_betas = {"b1"};
  auto fake = start(options);
  ASSERT_NE(fake, nullptr);
  RunResult r = post(*fake, "/v1/messages", R"({"model":"claude-fake"})", {"-H", "anthropic-beta: a0, b1,c2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_line(r.out), "HTTP/1.1 400 Bad Request");
  EXPECT_NE(r.out.find(R"("type":"invalid_request_error")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Unexpected value(s) `b1` for the `anthropic-beta` header"), std::string::npos) << r.out;
  r = post(*fake, "/v1/messages", R"({"model":"claude-fake"})", {"-H", "anthropic-beta: a0,c2"});
  EXPECT_EQ(status_line(r.out), "HTTP/1.1 200 OK");
  EXPECT_NE(r.out.find(R"("type":"message")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("model":"claude-fake")"), std::string::npos) << r.out;
}

TEST_F(FakeProviderTest, ModelAnswerIsGivenToEveryRequestNamingTheModel) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  fake->set_model_answer("down-model", 503, R"({"error":{"message":"overloaded"}})");
  for (int i = 0; i < 2; ++i) {
    RunResult r = post(*fake, "/v1/chat/completions", R"({"model":"down-model","messages":[]})");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(status_line(r.out), "HTTP/1.1 503 Service Unavailable");
    EXPECT_TRUE(r.out.ends_with(R"({"error":{"message":"overloaded"}})")) << r.out;
  }
  RunResult r = post(*fake, "/v1/chat/completions", R"({"model":"up-model","messages":[]})");
  EXPECT_EQ(status_line(r.out), "HTTP/1.1 200 OK");
  EXPECT_NE(r.out.find(R"("model":"up-model")"), std::string::npos) << r.out;
}

// curl itself sends a request again on a fresh connection when a reused one
// dies before any byte of the answer: the dropped request is recorded with
// status 0 on the first connection, the repeat on a second.
TEST_F(FakeProviderTest, CloseReusedConnectionsEndsTheSecondRequestOfAConnection) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  fake->set_close_reused_connections(1);
  auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
  argv.insert(argv.end(), {url(*fake, kOpenAi, "/v1/models"), url(*fake, kOpenAi, "/v1/models")});
  RunResult r = run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto all = fake->recorded_requests();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].connection, 1u);
  EXPECT_EQ(all[0].status, 200);
  EXPECT_EQ(all[1].connection, 1u);
  EXPECT_EQ(all[1].status, 0);
  EXPECT_EQ(all[2].connection, 2u);
  EXPECT_EQ(all[2].status, 200);
}

TEST_F(FakeProviderTest, IdleConnectionsAreCountedAndClosedOnRequest) {
  AWF_REQUIRE_FACILITY(have_program("python3"), "python3");
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  const std::string script = dir_.file("idle.py");
  write_file(script, R"PY(
import socket, ssl, sys
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection((host, port), timeout=20), server_hostname="api.openai.test")
s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: api.openai.test\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(65536)
head, _, body = data.partition(b"\r\n\r\n")
length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
while len(body) < length:
    body += s.recv(65536)
print("answered", file=sys.stderr, flush=True)
try:
    more = s.recv(1)
    print("closed" if not more else "data", file=sys.stderr, flush=True)
except (ssl.SSLError, OSError):
    print("closed", file=sys.stderr, flush=True)
)PY");
  auto client = Process::spawn({"python3", script, fake->host(), std::to_string(fake->port()), fake->ca_cert_path()});
  ASSERT_TRUE(client->wait_for_stderr("answered", 20s)) << client->stderr_text();
  const auto deadline = Clock::now() + 5s;
  while (fake->idle_connections() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(fake->idle_connections(), 1u);
  EXPECT_EQ(fake->close_idle_connections(), 1u);
  EXPECT_EQ(client->wait(10s), std::optional<int>(0)) << client->stderr_text();
  EXPECT_NE(client->stderr_text().find("closed"), std::string::npos) << client->stderr_text();
  EXPECT_EQ(fake->idle_connections(), 0u);
}

TEST_F(FakeProviderTest, AnthropicStreamRunsFromMessageStartToMessageStop) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  fake->set_stream(3, 0ms);
  RunResult r = post(*fake, "/v1/messages", R"({"model":"claude-fake","stream":true})");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("event: message_start\ndata: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("part-3 "), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")) << r.out;
  EXPECT_EQ(fake->last_request()->events_sent.size(), 3u + 5u);
}

TEST_F(FakeProviderTest, ResponsesModelsGeminiAndUnknownPaths) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  fake->set_stream(2, 0ms);
  RunResult r = post(*fake, "/v1/responses", R"({"model":"gpt-r","input":"hi"})");
  EXPECT_NE(r.out.find(R"("object":"response")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("model":"gpt-r")"), std::string::npos) << r.out;

  r = post(*fake, "/v1beta/models/gemini-fake-1:generateContent", R"({"contents":[]})");
  EXPECT_EQ(status_line(r.out), "HTTP/1.1 200 OK");
  EXPECT_NE(r.out.find(R"("modelVersion":"gemini-fake-1")"), std::string::npos) << r.out;

  r = post(*fake, "/v1beta/models/gemini-fake-1:streamGenerateContent?alt=sse", R"({"contents":[]})");
  EXPECT_NE(r.out.find("Content-Type: text/event-stream"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("data: {\"candidates\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"finishReason\":\"STOP\""), std::string::npos) << r.out;

  r = post(*fake, "/v1beta/models/gemini-fake-1:streamGenerateContent", R"({"contents":[]})");
  EXPECT_NE(r.out.find("\r\n\r\n[{\"candidates\""), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.ends_with("}]")) << r.out;

  r = post(*fake, "/v1/embeddings", R"({"model":"m"})");
  EXPECT_EQ(status_line(r.out), "HTTP/1.1 404 Not Found");
  EXPECT_NE(r.out.find(R"({"error":{"type":"not_found")"), std::string::npos) << r.out;
}

TEST_F(FakeProviderTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
  argv.insert(argv.end(), {url(*fake, kOpenAi, "/v1/models"), url(*fake, kOpenAi, "/v1/models"),
                           url(*fake, kOpenAi, "/v1/models")});
  RunResult r = run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fake->requests(), 3u);
  EXPECT_EQ(fake->connections(), 1u);
  EXPECT_EQ(fake->last_request()->connection, 1u);
}

TEST_F(FakeProviderTest, ConcurrentStreamsAreServedTogether) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  fake->set_stream(5, 100ms);
  std::vector<std::unique_ptr<Process>> clients;
  for (int i = 0; i < 3; ++i) {
    auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
    argv.insert(argv.end(), {"-N", "--data-binary", R"({"stream":true})", url(*fake, kOpenAi, "/v1/chat/completions")});
    clients.push_back(Process::spawn(argv));
  }
  for (auto& c : clients) EXPECT_EQ(c->wait(20s), 0) << c->stderr_text();
  auto all = fake->recorded_requests();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(fake->connections(), 3u);
  // Each stream started before every other one ended: they overlapped.
  for (const auto& a : all)
    for (const auto& b : all) {
      ASSERT_FALSE(a.events_sent.empty());
      EXPECT_LT(a.arrived, b.events_sent.back());
    }
}

TEST_F(FakeProviderTest, FirstByteDelayHoldsTheResponseHead) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  fake->set_first_byte_delay(400ms);
  auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
  argv.insert(argv.end(), {"-o", "/dev/null", "-w", "%{time_pretransfer} %{time_starttransfer}",
                           url(*fake, kOpenAi, "/v1/models")});
  RunResult r = run(argv);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  double pretransfer = 0, starttransfer = 0;
  ASSERT_EQ(std::sscanf(r.out.c_str(), "%lf %lf", &pretransfer, &starttransfer), 2) << r.out;
  EXPECT_GE(starttransfer - pretransfer, 0.39) << r.out;
}

TEST_F(FakeProviderTest, StallAfterEventsLeavesTheStreamOpenAndSilent) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  fake->set_stream(5, 0ms);
  fake->set_stall_after_events(2);
  auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
  argv.insert(argv.end(), {"-N", "--max-time", "1", "--data-binary", R"({"stream":true})",
                           url(*fake, kOpenAi, "/v1/chat/completions")});
  RunResult r = run(argv);
  EXPECT_EQ(r.exit_code, 28) << r.err;  // CURLE_OPERATION_TIMEDOUT
  EXPECT_NE(r.out.find("part-2 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("part-3 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[DONE]"), std::string::npos) << r.out;
  EXPECT_EQ(fake->last_request()->events_sent.size(), 2u);
}

TEST_F(FakeProviderTest, WebSocketUpgradeIsAcceptedAndFramesEchoed) {
  AWF_REQUIRE_FACILITY(have_program("python3"), "python3");
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  // A client written from RFC 6455 alone: the handshake with the RFC's
  // sample key, then masked frames (a short text, a 300-byte binary with the
  // 16-bit length, a ping, a close).
  write_file(dir_.file("ws.py"), R"PY(
import os, socket, ssl, struct, sys
host, port, ca, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=name)
s.sendall(("GET /v1/responses?model=gpt-ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer agent\r\n\r\n" % name).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d: sys.exit("eof in head")
    buf += d
head, _, buf = buf.partition(b"\r\n\r\n")
print(head.decode())
def send(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    h = bytes([0x80 | opcode]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
    s.sendall(h + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
def need(n):
    global buf
    while len(buf) < n:
        d = s.recv(65536)
        if not d: sys.exit("eof in frame")
        buf += d
def recv():
    global buf
    need(2)
    op, n, off = buf[0] & 0x0F, buf[1] & 0x7F, 2
    if buf[1] & 0x80: sys.exit("server frame masked")
    if n == 126:
        need(4); n = struct.unpack("!H", buf[2:4])[0]; off = 4
    need(off + n)
    payload, buf = buf[off:off + n], buf[off + n:]
    return op, payload
send(1, b"hello fake")
print("frame", *recv())
send(2, bytes(range(256)) + bytes(44))
op, payload = recv()
print("binary", op, payload == bytes(range(256)) + bytes(44))
send(9, b"p")
print("frame", *recv())
send(8, struct.pack("!H", 1000))
print("frame", *recv())
)PY");
  RunResult r =
      run({"python3", dir_.file("ws.py"), kHost, std::to_string(fake->port()), fake->ca_cert_path(), kOpenAi});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(r.out.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << r.out;
  // RFC 6455 §1.3's worked example: this key gives this accept value.
  EXPECT_NE(r.out.find("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frame 1 b'hello fake'\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("binary 2 True\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frame 10 b'p'\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("frame 8 b'\\x03\\xe8'\n"), std::string::npos) << r.out;
  auto messages = fake->websocket_messages();
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0], "hello fake");
  EXPECT_EQ(messages[1].size(), 300u);
  auto req = fake->last_request();
  ASSERT_TRUE(req);
  EXPECT_EQ(req->status, 101);
  EXPECT_EQ(req->target, "/v1/responses?model=gpt-ws");
  EXPECT_EQ(req->header("authorization"), "Bearer agent");
  EXPECT_EQ(req->sni, kOpenAi);
}

TEST_F(FakeProviderTest, WaitForRequestsGivesUpAtTheDeadline) {
  auto fake = start();
  ASSERT_NE(fake, nullptr);
  auto before = Clock::now();
  EXPECT_FALSE(fake->wait_for_requests(1, 200ms));
  EXPECT_GE(Clock::now() - before, 200ms);
  EXPECT_FALSE(fake->request(0));
  EXPECT_FALSE(fake->last_request());
}

// Workload identity federation: the Actions token request checks the
// request token and gives the identity JWT (500 while held back); the
// exchange issues numbered access tokens with the scripted lifetime, after
// the scripted failures that quote the assertion back; scripted answers
// never take these two paths.
TEST_F(FakeProviderTest, FederationEndpointsMintAndExchange) {
  FakeProvider::Options options;
  options.federation.request_token = "req-tok-1";
  options.federation.identity_jwt = "eyJ.id.jwt";
  options.federation.access_token_prefix = "acc-";
  options.federation.expires_in = 120;
  options.federation.failing_exchanges = 1;
  options.federation.identity_available = false;
  auto fake = start(options);
  ASSERT_NE(fake, nullptr);
  auto get = [&](const std::string& auth) {
    auto argv = curl(*fake, kOpenAi, fake->ca_cert_path());
    argv.insert(argv.end(), {"-H", "Authorization: " + auth, url(*fake, kOpenAi, "/x/idtoken?api-version=2.0&audience=a")});
    return run(argv).out;
  };
  EXPECT_EQ(status_line(get("Bearer req-tok-1")), "HTTP/1.1 500 Internal Server Error");
  fake->set_identity_available(true);
  fake->set_next_status(503, "{}");  // scripted answers are for the other paths
  EXPECT_EQ(status_line(get("Bearer wrong")), "HTTP/1.1 401 Unauthorized");
  const std::string minted = get("bearer req-tok-1");
  EXPECT_EQ(status_line(minted), "HTTP/1.1 200 OK");
  EXPECT_NE(minted.find(R"({"count":1,"value":"eyJ.id.jwt"})"), std::string::npos) << minted;

  const std::string grant = R"({"grant_type":"urn:ietf:params:oauth:grant-type:jwt-bearer","assertion":"eyJ.id.jwt"})";
  RunResult refused = post(*fake, "/v1/oauth/token", grant);
  EXPECT_EQ(status_line(refused.out), "HTTP/1.1 400 Bad Request");
  EXPECT_NE(refused.out.find("assertion rejected: eyJ.id.jwt"), std::string::npos) << refused.out;
  RunResult first = post(*fake, "/v1/oauth/token", grant);
  EXPECT_NE(first.out.find(R"({"access_token":"acc-1","token_type":"Bearer","expires_in":120})"), std::string::npos)
      << first.out;
  FakeProvider::Federation no_lifetime = options.federation;
  no_lifetime.expires_in.reset();
  no_lifetime.failing_exchanges = 0;
  fake->set_federation(no_lifetime);
  RunResult second = post(*fake, "/v1/oauth/token", grant);
  EXPECT_NE(second.out.find(R"({"access_token":"acc-2","token_type":"Bearer"})"), std::string::npos) << second.out;
  EXPECT_EQ(fake->issued_access_tokens(), (std::vector<std::string>{"acc-1", "acc-2"}));
  EXPECT_EQ(status_line(post(*fake, "/v1/chat/completions", "{}").out), "HTTP/1.1 503 Service Unavailable");
  auto requests = fake->recorded_requests();
  ASSERT_EQ(requests.size(), 7u);
  EXPECT_EQ(requests[5].body, grant);
  EXPECT_EQ(requests[2].header("authorization"), "bearer req-tok-1");
}

TEST_F(FakeProviderTest, SeveralFakesShareACertificateDirectory) {
  auto a = start();
  auto b = start();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->ca_cert_path(), b->ca_cert_path());
  // Each trusts only its own CA.
  auto argv = curl(*b, kOpenAi, a->ca_cert_path());
  argv.push_back(url(*b, kOpenAi, "/v1/models"));
  EXPECT_EQ(run(argv).exit_code, 60);
}

}  // namespace
}  // namespace awf::testing
