// awf's --config file: syntax by extension, validation messages.
#include "awf/cli/config_file.h"

#include <gtest/gtest.h>

namespace awf::cli {
namespace {

TEST(ConfigSyntax, ChosenByExtension) {
  EXPECT_EQ(config_syntax_for("a.json"), ConfigSyntax::json);
  EXPECT_EQ(config_syntax_for("a.JSON"), ConfigSyntax::json);
  EXPECT_EQ(config_syntax_for("a.yaml"), ConfigSyntax::yaml);
  EXPECT_EQ(config_syntax_for("a.yml"), ConfigSyntax::yaml);
  EXPECT_EQ(config_syntax_for("-"), ConfigSyntax::guess);
  EXPECT_EQ(config_syntax_for("awfrc"), ConfigSyntax::guess);
}

TEST(ConfigFile, JsonKeysAreMapped) {
  auto c = parse_config_text(R"({
    "network": {"allowDomains": ["github.com", "*.npmjs.org"], "blockDomains": [], "dnsServers": ["1.1.1.1"]},
    "security": {"enableHostAccess": true, "allowHostPorts": [3000, "8080-8090"]},
    "container": {"agentTimeout": 30, "mounts": ["/a:/b:ro"], "workDir": "/tmp/w"},
    "environment": {"envAll": true, "excludeEnv": ["SECRET"], "envFile": "/e"},
    "logging": {"logLevel": "debug", "proxyLogsDir": "/logs"}
  })",
                             "awf.json", ConfigSyntax::json);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(*c->allow_domains, (std::vector<std::string>{"github.com", "*.npmjs.org"}));
  EXPECT_FALSE(c->block_domains) << "empty arrays mean unset";
  EXPECT_EQ(*c->dns_servers, std::vector<std::string>{"1.1.1.1"});
  EXPECT_EQ(*c->enable_host_access, true);
  EXPECT_EQ(*c->allow_host_ports, "3000,8080-8090");
  EXPECT_EQ(*c->agent_timeout, "30");
  EXPECT_EQ(*c->mounts, std::vector<std::string>{"/a:/b:ro"});
  EXPECT_EQ(*c->env_all, true);
  EXPECT_EQ(*c->exclude_env, std::vector<std::string>{"SECRET"});
  EXPECT_EQ(*c->log_level, "debug");
  EXPECT_EQ(*c->proxy_logs_dir, "/logs");
}

TEST(ConfigFile, YamlIsReadTheSameWay) {
  auto c = parse_config_text(
      "network:\n  allowDomains:\n    - github.com\n    - 'api.example.com'\nsecurity:\n  allowHostPorts: \"3000\"\n"
      "  securityMode: compat\ncontainer:\n  tty: true\n",
      "awf.yaml", ConfigSyntax::yaml);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(*c->allow_domains, (std::vector<std::string>{"github.com", "api.example.com"}));
  EXPECT_EQ(*c->allow_host_ports, "3000");
  EXPECT_EQ(*c->legacy_security, true) << "securityMode: compat means legacy security";
  EXPECT_EQ(*c->tty, true);
}

// Found by the config_file fuzz target (seed
// tests/launcher_cli/corpus/config_file/escapes.json, written back as JSON
// and read as YAML): a YAML string was cut at its first NUL byte, so
// `"evil.test\0.github.com"` loaded as `evil.test`, an entry the file never
// named. The whole string is kept now, as JSON keeps it, and the entry is
// refused later for its control byte.
TEST(ConfigFile, YamlStringsKeepEveryByte) {
  for (const char* text : {"network:\n  allowDomains: [\"evil.test\\0.github.com\"]\n",
                           "network:\n  allowDomains: [\"evil.test\\x00.github.com\"]\n"}) {
    auto c = parse_config_text(text, "awf.yaml", ConfigSyntax::yaml);
    ASSERT_TRUE(c.ok()) << c.message();
    EXPECT_EQ(*c->allow_domains, std::vector<std::string>{std::string("evil.test\0.github.com", 21)}) << text;
  }
  auto json = parse_config_text(R"({"network": {"allowDomains": ["evil.test\u0000.github.com"]}})", "awf.json",
                                ConfigSyntax::json);
  ASSERT_TRUE(json.ok()) << json.message();
  EXPECT_EQ(*json->allow_domains, std::vector<std::string>{std::string("evil.test\0.github.com", 21)});
}

TEST(ConfigFile, GuessTriesJsonThenYaml) {
  EXPECT_TRUE(parse_config_text("{\"network\": {\"allowDomains\": [\"a.com\"]}}", "-", ConfigSyntax::guess).ok());
  EXPECT_TRUE(parse_config_text("network:\n  allowDomains: [a.com]\n", "-", ConfigSyntax::guess).ok());
}

TEST(ConfigFile, ErrorsAreAwfShaped) {
  struct Case {
    const char* why;
    const char* text;
    ConfigSyntax syntax;
    const char* message;
  } cases[] = {
      {"invalid JSON in a .json file", "{network:", ConfigSyntax::json,
       "Error loading --config: Failed to parse AWF config from c.json: Unexpected token at position 1"},
      {"a wrong type", R"({"network": {"allowDomains": "github.com"}})", ConfigSyntax::json,
       "Error loading --config: Invalid AWF config at c.json:\n- /network/allowDomains must be array"},
      {"an unknown section", R"({"netwerk": {}})", ConfigSyntax::json,
       "Error loading --config: Invalid AWF config at c.json:\n- / must NOT have additional properties (netwerk)"},
      {"an unknown key and a non-string item", R"({"network": {"allowDomain": [], "dnsServers": [1]}})",
       ConfigSyntax::json,
       "Error loading --config: Invalid AWF config at c.json:\n- /network must NOT have additional properties "
       "(allowDomain)\n- /network/dnsServers/0 must be string"},
      {"a boolean given as text", "security:\n  enableHostAccess: \"yes\"\n", ConfigSyntax::yaml,
       "Error loading --config: Invalid AWF config at c.json:\n- /security/enableHostAccess must be boolean"},
      {"not an object", "[1, 2]", ConfigSyntax::json,
       "Error loading --config: Invalid AWF config at c.json:\n- / must be object"},
  };
  for (const auto& c : cases) {
    auto r = parse_config_text(c.text, "c.json", c.syntax);
    ASSERT_FALSE(r.ok()) << c.why;
    EXPECT_EQ(r.message(), c.message) << c.why;
  }
}

TEST(ConfigFile, StdinIsNamedStdin) {
  auto r = parse_config_text("{", "-", ConfigSyntax::json);
  EXPECT_EQ(r.message().rfind("Error loading --config: Failed to parse AWF config from stdin: ", 0), 0u);
  auto via_reader = load_config_file("-", [] { return std::string("{\"network\":{\"allowDomains\":[\"x.com\"]}}"); });
  ASSERT_TRUE(via_reader.ok()) << via_reader.message();
  EXPECT_EQ(*via_reader->allow_domains, std::vector<std::string>{"x.com"});
}

TEST(ConfigFile, SectionsWithoutANativeMeaningAreNamed) {
  auto c = parse_config_text(
      R"({"apiProxy": {"x": 1, "caCert": "/ca.pem"}, "rateLimiting": {}, "container": {"images": {"agent": "x"}}})",
      "c.json", ConfigSyntax::json);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->ignored, (std::vector<std::string>{"rateLimiting", "container.images", "apiProxy.x"}));
  EXPECT_EQ(c->api_proxy_ca_cert, "/ca.pem");
}

TEST(ConfigFile, ApiProxyModelListsAreRead) {
  auto c = parse_config_text("apiProxy:\n  allowedModels: [gpt-5*, 'claude-*']\n  disallowedModels:\n    - '*opus*'\n",
                             "c.yaml", ConfigSyntax::yaml);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->allowed_models, (std::vector<std::string>{"gpt-5*", "claude-*"}));
  EXPECT_EQ(c->disallowed_models, std::vector<std::string>{"*opus*"});
  EXPECT_TRUE(c->ignored.empty());
}

TEST(ConfigFile, ApiProxyFallbackModelsAreRead) {
  auto c = parse_config_text("apiProxy:\n  fallbackModels: [gpt-5-mini, anthropic/claude-haiku]\n", "c.yaml",
                             ConfigSyntax::yaml);
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->fallback_models, (std::vector<std::string>{"gpt-5-mini", "anthropic/claude-haiku"}));
  EXPECT_TRUE(c->ignored.empty()) << "no longer one of the keys named and ignored";
}

TEST(ConfigFile, BadApiProxyModelListsStopTheStart) {
  // An empty list must not quietly mean "no restriction" (awf maps other
  // empty arrays to unset).
  const std::string head = "Error loading --config: Invalid AWF config at c.json:\n- ";
  struct Case {
    const char* why;
    const char* text;
    std::string message;
  } cases[] = {
      {"an empty allow list", R"({"apiProxy": {"allowedModels": []}})",
       head + "/apiProxy/allowedModels must NOT have fewer than 1 items (leave it out for no model restriction)"},
      {"an empty deny list", R"({"apiProxy": {"disallowedModels": []}})",
       head + "/apiProxy/disallowedModels must NOT have fewer than 1 items (leave it out for no model restriction)"},
      {"one string instead of a list", R"({"apiProxy": {"allowedModels": "gpt-5"}})",
       head + "/apiProxy/allowedModels must be array"},
      {"an empty pattern", R"({"apiProxy": {"allowedModels": ["gpt-5", ""]}})",
       head + "/apiProxy/allowedModels/1 must NOT have fewer than 1 characters"},
      {"a number", R"({"apiProxy": {"disallowedModels": [5]}})", head + "/apiProxy/disallowedModels/0 must be string"},
      {"an empty fallback list", R"({"apiProxy": {"fallbackModels": []}})",
       head + "/apiProxy/fallbackModels must NOT have fewer than 1 items (leave it out for no fallback)"},
      {"a fallback that is not text", R"({"apiProxy": {"fallbackModels": ["m", 1]}})",
       head + "/apiProxy/fallbackModels/1 must be string"},
      {"a CA path that is not text", R"({"apiProxy": {"caCert": true}})", head + "/apiProxy/caCert must be string"},
      {"not an object", R"({"apiProxy": ["caCert"]})", head + "/apiProxy must be object"},
  };
  for (const auto& c : cases) {
    auto r = parse_config_text(c.text, "c.json", ConfigSyntax::json);
    ASSERT_FALSE(r.ok()) << c.why;
    EXPECT_EQ(r.message(), c.message) << c.why;
  }
}

TEST(ConfigFile, MissingFileIsAParseError) {
  auto r = load_config_file("/nope/awf.json");
  EXPECT_EQ(r.message().rfind("Error loading --config: Failed to parse AWF config from /nope/awf.json: ", 0), 0u);
}

}  // namespace
}  // namespace awf::cli
