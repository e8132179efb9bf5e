// Loading policy from awf's inputs: comma lists, domains files, ruleset YAML
// and the awf config file, including bad input and awf's messages.
#include "awf/policy/sources.h"

#include <gtest/gtest.h>

#include "awf/testing/files.h"
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace awf::policy {
namespace {

namespace fs = std::filesystem;

// A temporary directory removed with the fixture; tests write files into it.
class SourcesTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& content) {
    const auto path = tmp_.file(name);
    awf::testing::write_file(path, content);
    return path;
  }
  awf::testing::TempDir tmp_;  // removed with the fixture
  fs::path dir_ = tmp_.path();
};

TEST(SplitDomainList, TrimsAndDropsEmptyItems) {
  EXPECT_EQ(split_domain_list("a.com, b.com,,c.com , "), (std::vector<std::string>{"a.com", "b.com", "c.com"}));
  EXPECT_TRUE(split_domain_list("").empty());
  EXPECT_TRUE(split_domain_list(" , ,").empty());
}

TEST_F(SourcesTest, DomainsFileReadsLinesCommasAndComments) {
  const auto path = write("domains.txt",
                          "# allowed hosts\n"
                          "github.com\n"
                          "\n"
                          "  api.example.com   # trailing comment\r\n"
                          "a.com, b.com,,c.com\n"
                          "   \n"
                          "#only a comment\n"
                          "https://x.org");
  auto d = read_domains_file(path);
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_EQ(*d, (std::vector<std::string>{"github.com", "api.example.com", "a.com", "b.com", "c.com",
                                          "https://x.org"}));
}

TEST_F(SourcesTest, MissingDomainsFileIsNamed) {
  const auto path = (dir_ / "nope.txt").string();
  auto d = read_domains_file(path);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.message(), "Domains file not found: " + path);
}

TEST_F(SourcesTest, RulesetFileYieldsDomainsDeduplicated) {
  const auto path = write("rules.yaml",
                          "version: 1\n"
                          "rules:\n"
                          "  - domain: github.com\n"
                          "  - domain: '  api.example.com '\n"
                          "    subdomains: false\n"
                          "  - domain: github.com\n"
                          "    subdomains: true\n");
  auto d = read_ruleset_file(path);
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_EQ(*d, (std::vector<std::string>{"github.com", "api.example.com"}));
}

TEST_F(SourcesTest, SubdomainsFalseIsAcceptedButWarnedAboutAsIgnored) {
  const auto path = write("exact.yaml",
                          "version: 1\n"
                          "rules:\n"
                          "  - domain: github.com\n"
                          "    subdomains: true\n"
                          "  - domain: api.example.com\n"
                          "    subdomains: False\n");
  std::vector<std::string> warnings;
  auto d = read_ruleset_file(path, &warnings);
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_EQ(*d, (std::vector<std::string>{"github.com", "api.example.com"})) << "still allowed, as awf does";
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "ruleset " + path +
                             ", rule 1 (domain 'api.example.com'): \"subdomains: false\" is ignored: as in awf, an "
                             "entry always matches its subdomains too, and no entry form matches one name alone");

  PolicyFlags flags;
  flags.ruleset_files = {path};
  std::vector<std::string> from_spec;
  ASSERT_TRUE(build_spec(flags, &from_spec).ok());
  EXPECT_EQ(from_spec, warnings) << "build_spec passes the file's warnings on";
}

TEST_F(SourcesTest, BadRulesetFilesFailWithAwfsMessages) {
  const std::string p = "Failed to load ruleset file: ";
  struct Bad {
    const char* sentence;
    const char* content;
    std::string expected;  // with PATH standing for the file's path
  };
  const Bad cases[] = {
      {"empty file", "", p + "Ruleset file PATH is empty"},
      {"only a null", "~\n", p + "Ruleset file PATH is empty"},
      {"a list at the top", "- a\n- b\n", p + "Ruleset file PATH must contain a YAML object with \"version\" and \"rules\" fields"},
      {"a scalar at the top", "hello\n", p + "Ruleset file PATH must contain a YAML object with \"version\" and \"rules\" fields"},
      {"no version", "rules: []\n", p + "Ruleset file PATH is missing required \"version\" field"},
      {"version 2", "version: 2\nrules: []\n", p + "Unsupported ruleset version 2 in PATH (expected 1)"},
      {"version as a string", "version: \"1\"\nrules: []\n", p + "Unsupported ruleset version 1 in PATH (expected 1)"},
      {"no rules", "version: 1\n", p + "Ruleset file PATH is missing required \"rules\" field"},
      {"rules not a list", "version: 1\nrules: github.com\n", p + "\"rules\" field in PATH must be an array"},
      {"a rule that is a string", "version: 1\nrules:\n  - github.com\n", p + "Rule at index 0 in PATH must be an object with a \"domain\" field"},
      {"a rule without domain", "version: 1\nrules:\n  - domain: a.com\n  - subdomains: true\n", p + "Rule at index 1 in PATH is missing required \"domain\" string field"},
      {"a numeric domain", "version: 1\nrules:\n  - domain: 42\n", p + "Rule at index 0 in PATH is missing required \"domain\" string field"},
      {"an empty domain", "version: 1\nrules:\n  - domain: '  '\n", p + "Rule at index 0 in PATH has an empty \"domain\" field"},
      {"subdomains not a boolean", "version: 1\nrules:\n  - domain: a.com\n    subdomains: yes\n", p + "Rule at index 0 in PATH: \"subdomains\" must be a boolean"},
  };
  int n = 0;
  for (const auto& c : cases) {
    const auto path = write("bad" + std::to_string(n++) + ".yaml", c.content);
    auto d = read_ruleset_file(path);
    ASSERT_FALSE(d.ok()) << c.sentence;
    std::string expected = c.expected;
    for (auto at = expected.find("PATH"); at != std::string::npos; at = expected.find("PATH")) {
      expected.replace(at, 4, path);
    }
    EXPECT_EQ(d.message(), expected) << c.sentence;
  }
}

TEST_F(SourcesTest, InvalidYamlAndMissingRulesetAreNamed) {
  const auto bad = write("broken.yaml", "version: 1\nrules: [a, b\n");
  auto d = read_ruleset_file(bad);
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(d.message().starts_with("Failed to load ruleset file: Invalid YAML in ruleset file " + bad + ": "))
      << d.message();
  const auto missing = (dir_ / "missing.yaml").string();
  auto m = read_ruleset_file(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.message(), "Failed to load ruleset file: Ruleset file not found: " + missing);
}

TEST_F(SourcesTest, AwfConfigReadsNetworkFromJsonAndYaml) {
  const auto json = write("awf.json",
                          R"({"network": {"allowDomains": ["github.com", "*.npmjs.org"], "blockDomains": ["evil.com"],
                              "dnsServers": ["1.1.1.1"]},
                              "security": {"allowHostPorts": ["3000", "8080"], "enableHostAccess": true},
                              "container": {"memoryLimit": "4g"}})");
  const auto yaml = write("awf.yaml",
                          "network:\n  allowDomains: [github.com, '*.npmjs.org']\n  blockDomains: []\n"
                          "security:\n  allowHostPorts: \"3000,8080\"\n");
  auto j = read_awf_config(json);
  ASSERT_TRUE(j.ok()) << j.message();
  EXPECT_EQ(*j->allow_domains, (std::vector<std::string>{"github.com", "*.npmjs.org"}));
  EXPECT_EQ(*j->block_domains, (std::vector<std::string>{"evil.com"}));
  EXPECT_EQ(*j->dns_servers, (std::vector<std::string>{"1.1.1.1"}));
  EXPECT_EQ(*j->allow_host_ports, "3000,8080");
  EXPECT_EQ(j->enable_host_access, true);
  auto y = read_awf_config(yaml);
  ASSERT_TRUE(y.ok()) << y.message();
  EXPECT_EQ(*y->allow_domains, (std::vector<std::string>{"github.com", "*.npmjs.org"}));
  EXPECT_FALSE(y->block_domains.has_value());  // empty arrays mean unset, as in awf
  EXPECT_EQ(*y->allow_host_ports, "3000,8080");
  EXPECT_FALSE(y->enable_host_access.has_value());
}

TEST_F(SourcesTest, BadAwfConfigsAreNamed) {
  const auto unparsable = write("awf.json", "{invalid json");
  auto a = read_awf_config(unparsable);
  ASSERT_FALSE(a.ok());
  EXPECT_TRUE(a.message().starts_with("Failed to parse AWF config from " + unparsable + ": ")) << a.message();

  const auto unknown = write("unknown.json", R"({"unknown": true})");
  auto b = read_awf_config(unknown);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.message(), "Invalid AWF config at " + unknown + ":\n- must NOT have additional property 'unknown'");

  const auto wrong = write("wrong.yaml", "network:\n  allowDomains: github.com\n  blockDomains: [1, x]\n");
  auto c = read_awf_config(wrong);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.message(), "Invalid AWF config at " + wrong +
                             ":\n- /network/allowDomains must be array\n- /network/blockDomains/0 must be string");

  auto missing = read_awf_config((dir_ / "none.json").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.message().starts_with("Failed to parse AWF config from ")) << missing.message();
}

TEST_F(SourcesTest, BuildSpecMergesInAwfsOrderAndDedupes) {
  PolicyFlags flags;
  flags.allow_domains = {"github.com, api.github.com", "example.com"};
  flags.allow_domains_files = {write("allow.txt", "example.com\nfile.org # comment\n")};
  flags.ruleset_files = {write("r.yaml", "version: 1\nrules:\n  - domain: rules.net\n  - domain: github.com\n")};
  flags.block_domains = {"bad.com"};
  flags.block_domains_files = {write("block.txt", "worse.com,bad.com\n")};
  flags.allow_host_ports = "3000-3002,8080";
  auto spec = build_spec(flags);
  ASSERT_TRUE(spec.ok()) << spec.message();
  EXPECT_EQ(spec->allow,
            (std::vector<std::string>{"github.com", "api.github.com", "example.com", "file.org", "rules.net"}));
  EXPECT_EQ(spec->block, (std::vector<std::string>{"bad.com", "worse.com"}));
  ASSERT_EQ(spec->extra_ports.size(), 2u);
}

TEST_F(SourcesTest, BuildSpecPrefixesFileErrorsLikeAwf) {
  PolicyFlags allow;
  allow.allow_domains_files = {(dir_ / "a.txt").string()};
  auto a = build_spec(allow);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.message(), "Failed to read domains file: Domains file not found: " + (dir_ / "a.txt").string());

  PolicyFlags block;
  block.block_domains_files = {(dir_ / "b.txt").string()};
  auto b = build_spec(block);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.message(),
            "Failed to read blocked domains file: Domains file not found: " + (dir_ / "b.txt").string());

  PolicyFlags ports;
  ports.allow_host_ports = "22";
  EXPECT_FALSE(build_spec(ports).ok());
}

}  // namespace
}  // namespace awf::policy
