// Unit tests of the API proxy's configuration in awf-proxy: the --api-*
// flags (and their YAML keys), and the provider settings they make with the
// environment. No message may show a key.
#include <gtest/gtest.h>

#include "awf/api/settings.h"
#include "awf/proxy/api_settings.h"
#include "awf/proxy/config.h"
#include "awf/testing/files.h"

using namespace awf::proxy;
using awf::api::Provider;

namespace {

constexpr const char* kKey = "sk-Kq83mZx0Lw5Pv";

awf::Result<CommandLine> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "awf-proxy");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

TEST(ApiFlags, ListenersKeysTargetsAndBasePathsAreRead) {
  auto c = parse({"--api-listen", "openai=127.0.0.1:10000", "--api-listen", "anthropic=[::1]:10001", "--api-key",
                  "openai=env:MY_KEY", "--api-key", "anthropic=file:/run/keys/anthropic", "--api-target",
                  "openai=gw.example.test", "--api-base-path", "openai=/proxy/v1/", "--api-ca-cert", "/etc/ca.pem"});
  ASSERT_TRUE(c) << c.message();
  const Config& config = c->config;
  ASSERT_EQ(config.api_listen.size(), 2u);
  EXPECT_EQ(config.api_listen[1].provider, Provider::anthropic);
  EXPECT_EQ(config.api_listen[1].address.text(), "[::1]:10001");
  ASSERT_EQ(config.api_keys.size(), 2u);
  EXPECT_EQ(config.api_keys[0].from, ApiKeySource::From::env);
  EXPECT_EQ(config.api_keys[0].where, "MY_KEY");
  EXPECT_EQ(config.api_keys[1].from, ApiKeySource::From::file);
  EXPECT_EQ(config.api_keys[1].where, "/run/keys/anthropic");
  ASSERT_EQ(config.api_targets.size(), 1u);
  EXPECT_EQ(config.api_targets[0].value, "gw.example.test");
  ASSERT_EQ(config.api_base_paths.size(), 1u);
  EXPECT_EQ(config.api_base_paths[0].value, "/proxy/v1");
  EXPECT_EQ(config.api_ca_cert, "/etc/ca.pem");
  // API listeners alone: the implicit forward listener is not claimed.
  EXPECT_TRUE(config.listen_is_default);
}

TEST(ApiFlags, YamlKeysAreTheLongFlagNames) {
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("c.yaml"),
                           "api-listen: [openai=127.0.0.1:10000, gemini=127.0.0.1:10003]\n"
                           "api-key: [openai=env:K]\napi-target: [gemini=g.example.test]\napi-ca-cert: /x.pem\n");
  auto c = parse({"--config", dir.file("c.yaml")});
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->config.api_listen.size(), 2u);
  EXPECT_EQ(c->config.api_keys.size(), 1u);
  EXPECT_EQ(c->config.api_targets.size(), 1u);
  EXPECT_EQ(c->config.api_ca_cert, "/x.pem");
}

TEST(ApiFlags, BadValuesAreNamedAndKeysNeverShown) {
  struct Case {
    std::vector<std::string> args;
    std::string message;  // a part of the error
  };
  const Case cases[] = {
      {{"--api-listen", "mistral=127.0.0.1:1"}, "--api-listen \"mistral=127.0.0.1:1\": unknown provider \"mistral\""},
      {{"--api-listen", "openai=localhost:1"}, "--api-listen \"openai=localhost:1\": expected PROVIDER=ADDR:PORT"},
      {{"--api-listen", "127.0.0.1:10000"}, "expected PROVIDER=VALUE"},
      {{"--api-key", std::string("openai=") + kKey}, "--api-key openai=...: expected env:VARIABLE or file:PATH"},
      {{"--api-key", kKey}, "--api-key: expected PROVIDER=VALUE"},
      {{"--api-key", std::string(kKey) + "=x"}, "--api-key: unknown provider"},
      {{"--api-key", "openai=env:"}, "expected the name of an environment variable"},
      {{"--api-target", "openai=https://gw.example.test/v1"}, "--api-target openai=https://gw.example.test/v1: "
                                                              "expected a host name only"},
      {{"--api-target", "openai=gw.example.test:8443"}, "expected a host name only"},
      {{"--api-base-path", "openai=/a?b"}, "--api-base-path openai"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.args);
    ASSERT_FALSE(r) << c.args.back();
    EXPECT_NE(r.message().find(c.message), std::string::npos) << r.message();
    EXPECT_EQ(r.message().find(kKey), std::string::npos) << r.message();
  }
}

awf::Result<awf::api::ProviderSettings> load(const std::vector<std::string>& args, awf::api::Environment env) {
  auto c = parse(args);
  if (!c) return c.error();
  return load_api_settings(c->config, std::move(env));
}

TEST(ApiSettings, FlagsTakeThePlaceOfTheirVariables) {
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("key"), std::string("  ") + kKey + "\r\n");
  auto s = load({"--api-key", "openai=env:MY_KEY", "--api-key", "anthropic=file:" + dir.file("key"), "--api-target",
                 "openai=gw.example.test", "--api-base-path", "openai=/gw", "--api-target", "copilot=byok.example.test"},
                {{"MY_KEY", "Bearer other-key-value"},
                 {"OPENAI_API_KEY", "ignored-key-value"},
                 {"OPENAI_API_TARGET", "ignored.example.test"},
                 {"COPILOT_PROVIDER_BASE_URL", "https://ignored.example.test/x"}});
  ASSERT_TRUE(s) << s.message();
  EXPECT_EQ(s->at(Provider::openai).key->reveal(), "other-key-value");
  EXPECT_EQ(s->at(Provider::openai).host, "gw.example.test");
  EXPECT_EQ(s->at(Provider::openai).base_path, "/gw");
  EXPECT_EQ(s->at(Provider::anthropic).key->reveal(), kKey);  // the file's, trimmed
  EXPECT_EQ(s->at(Provider::copilot).host, "byok.example.test");
  EXPECT_FALSE(s->at(Provider::gemini).configured());
}

TEST(ApiSettings, UnusableKeySourcesStopTheStartNamingTheSource) {
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("two-lines"), std::string(kKey) + "\nsecond-line-of-key\n");
  awf::testing::write_file(dir.file("empty"), "\n");
  struct Case {
    std::string source;
    std::string message;
  };
  const Case cases[] = {
      {"openai=env:UNSET_VARIABLE", "--api-key openai=env:UNSET_VARIABLE: UNSET_VARIABLE is not set"},
      {"openai=env:PLACEHOLDER", "PLACEHOLDER is empty or holds a placeholder"},
      {"openai=env:BROKEN", "BROKEN"},
      {"openai=file:" + dir.file("two-lines"), "has a line break or NUL inside the key"},
      {"openai=file:" + dir.file("empty"), "is empty"},
      {"openai=file:" + dir.file("missing"), "cannot open \"" + dir.file("missing") + "\""},
  };
  for (const auto& c : cases) {
    auto s = load({"--api-key", c.source},
                  {{"PLACEHOLDER", "sk-placeholder-for-api-proxy"}, {"BROKEN", std::string(kKey) + "\nx"}});
    ASSERT_FALSE(s) << c.source;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(kKey), std::string::npos) << s.message();
  }
}

TEST(ApiSettings, ExtraCaMustBeALoadablePemFile) {
  awf::testing::TempDir dir;
  awf::testing::write_file(dir.file("not-a-ca.pem"), "hello\n");
  auto settings = load({}, {});
  ASSERT_TRUE(settings) << settings.message();
  auto bad = make_api_proxy(*settings, dir.file("not-a-ca.pem"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("--api-ca-cert \"" + dir.file("not-a-ca.pem") + "\": cannot load CA certificates"),
            std::string::npos)
      << bad.message();
  auto good = make_api_proxy(*settings, "");
  EXPECT_TRUE(good) << good.message();
}

}  // namespace
