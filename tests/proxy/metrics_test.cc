// Unit tests of the admin listener's metrics: records counted under their
// front end, decision and reason; the exposition text rendered from them;
// the answers of the admin endpoints.
#include <gtest/gtest.h>

#include <string>

#include "awf/policy/ruleset.h"
#include "awf/proxy/admin.h"
#include "awf/proxy/metrics.h"

using namespace awf::proxy;

namespace {

LogRecord record(int status, ResultCode code, std::string reason = "", std::uint64_t bytes = 0,
                 std::chrono::milliseconds duration = std::chrono::milliseconds(0)) {
  LogRecord r;
  r.status = status;
  r.code = code;
  r.reason = std::move(reason);
  r.bytes_to_client = bytes;
  r.duration = duration;
  return r;
}

std::size_t reason(std::string_view code) {
  for (std::size_t i = 0; i < Metrics::kReasons.size(); ++i) {
    if (Metrics::kReasons[i] == code) return i;
  }
  return Metrics::kReasons.size();
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Metrics, RecordsAreCountedUnderTheirFrontEndDecisionAndReason) {
  Metrics m;
  m.count(record(200, ResultCode::tcp_miss));
  LogRecord tunnel = record(200, ResultCode::tcp_tunnel);
  tunnel.method = "CONNECT";
  tunnel.via_socks = true;
  m.count(tunnel);
  m.count(record(403, ResultCode::tcp_denied, "blocklisted"));
  LogRecord intercepted = record(403, ResultCode::tcp_denied, "private_address");
  intercepted.listener = Listener::tls_intercept;
  m.count(intercepted);
  LogRecord api = record(200, ResultCode::tcp_miss);
  api.api_provider = "openai";
  m.count(api);
  // A code outside the closed set, and a denial without one: "other".
  m.count(record(403, ResultCode::tcp_denied, "some_future_code"));
  m.count(record(403, ResultCode::tcp_denied));
  m.count(record(400, ResultCode::none_none));  // malformed: refused, no code
  m.count(record(503, ResultCode::none_none));  // the origin failed: it was allowed
  EXPECT_EQ(m.requests(Listener::socks, reason("allowed")), 1u);
  EXPECT_EQ(m.requests(Listener::forward, reason("blocklisted")), 1u);
  EXPECT_EQ(m.requests(Listener::tls_intercept, reason("private_address")), 1u);
  EXPECT_EQ(m.requests(Listener::api, reason("allowed")), 1u);
  EXPECT_EQ(m.requests(Listener::forward, reason("other")), 3u);
  EXPECT_EQ(m.requests(Listener::forward, reason("allowed")), 2u);
}

TEST(Metrics, AFoldedDnsRefusalCountsEveryQueryItStandsFor) {
  Metrics m;
  LogRecord first = record(403, ResultCode::tcp_denied, "not_allowed");
  first.method = "DNS";
  m.count(first);
  LogRecord summary = first;
  summary.repeated = 41;
  m.count(summary);
  EXPECT_EQ(m.requests(Listener::dns, reason("not_allowed")), 42u);
  EXPECT_EQ(m.duration_count(), 1u);  // the summary is no transaction of its own
}

TEST(Metrics, TheTextIsPrometheusExpositionWithCumulativeBuckets) {
  Metrics m;
  m.count(record(200, ResultCode::tcp_miss, "", 100, std::chrono::milliseconds(3)));
  m.count(record(200, ResultCode::tcp_miss, "", 50, std::chrono::milliseconds(40)));
  m.count(record(403, ResultCode::tcp_denied, "not_in_allowlist", 7, std::chrono::milliseconds(2'000'000)));
  m.count_reload(true);
  m.count_reload(false);
  m.count_reload(false);
  m.count_lost_lines(false, 3);
  m.count_lost_lines(true, 2);
  m.count_lost_lines(false, 4);
  LiveValues live;
  live.active_connections = 3;
  live.active_tunnels = 1;
  live.dns_forwarded = 5;
  live.dns_refused = 2;
  live.policy_generation = 2;
  live.refused_out_of_fds = 9;
  live.refused_max_connections = 4;
  live.start_time_seconds = 1700000000.5;
  live.version = "1.2\"3";
  const std::string text = render_metrics(m, live);
  for (const char* line : {
           "# TYPE awf_proxy_requests_total counter",
           "awf_proxy_requests_total{listener=\"forward\",decision=\"allowed\",reason=\"allowed\"} 2",
           "awf_proxy_requests_total{listener=\"forward\",decision=\"denied\",reason=\"not_in_allowlist\"} 1",
           "awf_proxy_bytes_total{direction=\"to_client\"} 157",
           "# TYPE awf_proxy_request_duration_seconds histogram",
           "awf_proxy_request_duration_seconds_bucket{le=\"0.005\"} 1",
           "awf_proxy_request_duration_seconds_bucket{le=\"0.025\"} 1",
           "awf_proxy_request_duration_seconds_bucket{le=\"0.05\"} 2",
           "awf_proxy_request_duration_seconds_bucket{le=\"1800\"} 2",
           "awf_proxy_request_duration_seconds_bucket{le=\"+Inf\"} 3",
           "awf_proxy_request_duration_seconds_sum 2000.043",
           "awf_proxy_request_duration_seconds_count 3",
           "# TYPE awf_proxy_active_connections gauge",
           "awf_proxy_active_connections 3",
           "awf_proxy_active_tunnels 1",
           "awf_proxy_dns_queries_total{answer=\"forwarded\"} 5",
           "awf_proxy_dns_queries_total{answer=\"refused\"} 2",
           "awf_proxy_reloads_total{result=\"ok\"} 1",
           "awf_proxy_reloads_total{result=\"failed\"} 2",
           "awf_proxy_log_lines_lost_total{file=\"access.log\"} 7",
           "awf_proxy_connections_refused_total{cause=\"out_of_fds\"} 9",
           "awf_proxy_connections_refused_total{cause=\"max_connections\"} 4",
           "awf_proxy_connections_refused_total{cause=\"dns_tcp_max_connections\"} 0",
           "awf_proxy_log_lines_lost_total{file=\"audit.jsonl\"} 2",
           "awf_proxy_build_info{version=\"1.2\\\"3\"} 1",
           "process_start_time_seconds 1700000000.500",
       }) {
    EXPECT_TRUE(has_line(text, line)) << "missing: " << line << "\n" << text;
  }
  // Series that never happened are left out; every family says what it is.
  EXPECT_EQ(text.find("listener=\"socks\""), std::string::npos) << text;
  EXPECT_EQ(text.find("# HELP awf_proxy_requests_total "), 0u) << text;
  EXPECT_EQ(text.back(), '\n');
}

class AdminAnswers : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ruleset = awf::policy::Ruleset::compile({{"allowed.test", "https://api.test"}, {"bad.allowed.test"}, {}});
    ASSERT_TRUE(ruleset) << ruleset.message();
    context_.set_policy(*ruleset);
    sources_ = {&context_, &metrics_, [] {
                  LiveValues v;
                  v.policy_generation = 1;
                  return v;
                }};
  }
  ProxyContext context_;
  Metrics metrics_;
  AdminSources sources_;
};

TEST_F(AdminAnswers, OnlyGetOnTheThreePathsIsAnswered) {
  EXPECT_EQ(answer_admin_request("GET", "/metrics", sources_).status, 200);
  EXPECT_EQ(answer_admin_request("GET", "/metrics?name[]=x", sources_).status, 200);
  EXPECT_EQ(answer_admin_request("GET", "/policy", sources_).status, 200);
  EXPECT_EQ(answer_admin_request("POST", "/metrics", sources_).status, 405);
  EXPECT_EQ(answer_admin_request("HEAD", "/healthz", sources_).status, 405);
  EXPECT_EQ(answer_admin_request("GET", "/", sources_).status, 404);
  EXPECT_EQ(answer_admin_request("GET", "/metrics/", sources_).status, 404);
  EXPECT_EQ(answer_admin_request("GET", "http://127.0.0.1/metrics", sources_).status, 404);
}

TEST_F(AdminAnswers, HealthzIsServiceUnavailableWhileDraining) {
  AdminResponse ok = answer_admin_request("GET", "/healthz", sources_);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "ok\n");
  context_.draining = true;
  EXPECT_EQ(answer_admin_request("GET", "/healthz", sources_).status, 503);
}

TEST_F(AdminAnswers, PolicyListsTheRulesAndTheSettingsAroundThem) {
  context_.config.upstream_proxy = awf::UpstreamProxy{"parent.test", 8080};
  context_.config.enable_dlp = true;
  const std::string body = answer_admin_request("GET", "/policy", sources_).body;
  for (const char* part : {"\"generation\":1", "\"policy_mode\":\"enforce\"", "\"allow_rules\":2", "\"block_rules\":1",
                           "{\"list\":\"allow\",\"scope\":\"https\",\"text\":\"https://api.test\"}",
                           "{\"list\":\"block\",\"scope\":\"both\",\"text\":\"bad.allowed.test\"}",
                           "\"dns_policy\":\"allowlist\"", "\"enable_dlp\":true", "\"ssl_bump\":false",
                           "\"upstream_proxy\":\"http://parent.test:8080\""}) {
    EXPECT_NE(body.find(part), std::string::npos) << part << "\n" << body;
  }
}

}  // namespace
