// End to end, the API proxy (LLM credential isolation) through the real
// `awf`: the official `openai` and `@anthropic-ai/sdk` packages run inside
// the sandbox with only the environment awf gives them, against a fake
// provider (HTTPS with its own CA) on 127.0.92.30:443 whose names come from a
// loopback DNS stub. The provider must see the real keys; the agent must not
// be able to find them anywhere it can read, and no log of the run may hold
// them or any 4-character piece of them.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "awf/testing/dns_stub.h"
#include "awf/testing/facility.h"
#include "awf/testing/fake_provider.h"
#include "awf/testing/files.h"
#include "awf/testing/net.h"
#include "awf/testing/process.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using awf::testing::DnsStub;
using awf::testing::FakeProvider;
using awf::testing::Process;
using awf::testing::TempDir;

namespace {

constexpr const char* kAwf = AWF_BIN_DIR "/awf";
constexpr const char* kDns = "127.0.92.53";
constexpr const char* kProviderIp = "127.0.92.30";

// Where scripts/install-deps.sh puts the SDKs (AWF_LLM_SDK_DIR overrides).
std::string sdk_dir() {
  const char* dir = std::getenv("AWF_LLM_SDK_DIR");
  return dir && *dir ? dir : AWF_LLM_SDK_DEFAULT_DIR;
}

// A key shaped so that a 4-character piece of it is no accident in a log:
// upper-case letters that are not hex digits alternating with digits.
std::string random_key(const std::string& prefix) {
  static const std::string letters = "GHJKLMNPQRSTUVWXYZ", digits = "23456789";
  std::random_device rd;
  std::string key = prefix;
  for (int i = 0; i < 40; ++i) {
    const std::string& set = i % 2 ? digits : letters;
    key += set[rd() % set.size()];
  }
  return key;
}

// Every 4-character piece of `secret` found in `text`, as "piece@offset".
std::vector<std::string> pieces_in(const std::string& text, const std::string& secret) {
  std::vector<std::string> found;
  for (std::size_t i = 0; i + 4 <= secret.size(); ++i) {
    const std::string piece = secret.substr(i, 4);
    if (auto at = text.find(piece); at != std::string::npos) found.push_back(piece + "@" + std::to_string(at));
  }
  return found;
}

// Every regular file under `dir`, with its text.
std::map<std::string, std::string> files_under(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file(ec)) out[it->path().string()] = awf::testing::read_file(it->path().string());
  }
  return out;
}

// Run inside the sandbox by node: a normal and a streamed request with each
// SDK, configured by nothing but the environment awf set.
constexpr const char* kSdkScript = R"JS(
const OpenAI = require('openai');
const Anthropic = require('@anthropic-ai/sdk');
const out = (s) => process.stdout.write(s + '\n');
(async () => {
  out('OPENAI_API_KEY=' + process.env.OPENAI_API_KEY);
  out('OPENAI_BASE_URL=' + process.env.OPENAI_BASE_URL);
  out('ANTHROPIC_AUTH_TOKEN=' + process.env.ANTHROPIC_AUTH_TOKEN);
  out('ANTHROPIC_BASE_URL=' + process.env.ANTHROPIC_BASE_URL);
  out('ANTHROPIC_API_KEY=' + (process.env.ANTHROPIC_API_KEY ?? '<unset>'));
  const messages = [{ role: 'user', content: 'say hi' }];
  const openai = new OpenAI({ maxRetries: 0, timeout: 20000 });
  const chat = await openai.chat.completions.create({ model: 'gpt-e2e', messages });
  out('openai chat: ' + chat.model + ' ' + (chat.choices[0].message.content.length > 0));
  const stream = await openai.chat.completions.create({ model: 'gpt-e2e-stream', messages, stream: true });
  let chunks = 0;
  for await (const c of stream) if (c.choices[0]?.delta?.content) chunks++;
  out('openai stream: ' + (chunks > 1));
  const anthropic = new Anthropic({ maxRetries: 0, timeout: 20000 });
  const msg = await anthropic.messages.create({ model: 'claude-e2e', max_tokens: 32, messages });
  out('anthropic message: ' + msg.model + ' ' + msg.content[0].type);
  let deltas = 0;
  for await (const ev of anthropic.messages.stream({ model: 'claude-e2e-stream', max_tokens: 32, messages })) {
    if (ev.type === 'content_block_delta') deltas++;
  }
  out('anthropic stream: ' + (deltas > 1));
})().catch((e) => { console.error('sdk failure: ' + e); process.exit(3); });
)JS";

// Run inside the sandbox after the SDKs: everything the agent can read
// that might hold a key, into one file of the workspace (the test searches
// it outside, so that no key is ever on this command line).
constexpr const char* kDumpScript =
    "{ env; for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do echo \"== $f\"; cat \"$f\" 2>/dev/null | "
    "tr '\\0' '\\n'; done; for d in \"$HOME\" /tmp \"$PWD\"; do find \"$d\" -xdev -type f -size -4M "
    "! -name agent-view.dump -exec cat {} + 2>/dev/null; done; } > \"$PWD/agent-view.dump\"";

class ApiProxyEndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    // The suite's fixed addresses and ports (DNS on :53, origins on :80 and
    // :443) live in a network namespace of its own: no listener of the
    // machine's and no other test process can be in their way.
    netns_error_ = awf::testing::enter_private_network();
    if (!netns_error_.empty()) return;
    etc_ = std::make_unique<TempDir>();
    ::chmod(etc_->path().c_str(), 0755);
    awf::testing::write_file(etc_->file("hosts"), "127.0.0.1 localhost\n::1 localhost\n");
    ::chmod(etc_->file("hosts").c_str(), 0644);
    certs_ = std::make_unique<TempDir>();
    dns_ = DnsStub::start(kDns, {{"api.openai.test", {kProviderIp}}, {"api.anthropic.test", {kProviderIp}}}, 53);
    FakeProvider::Options options;
    options.host = kProviderIp;
    options.port = 443;  // the API proxy always goes to https://<target>:443
    options.cert_dir = certs_->path();
    provider_ = FakeProvider::start(options);
    if (provider_) ::chmod(certs_->path().c_str(), 0755);
  }
  static void TearDownTestSuite() {
    provider_.reset();
    dns_.reset();
    certs_.reset();
    etc_.reset();
  }

  void SetUp() override {
    AWF_REQUIRE_FACILITY(geteuid() == 0, "end-to-end tests need root (namespaces, nftables)");
    AWF_REQUIRE_FACILITY(netns_error_.empty(), "a network namespace for the suite's origins: " + netns_error_);
    AWF_REQUIRE_FACILITY(fs::exists(kAwf), std::string("awf binary missing at ") + kAwf);
    AWF_REQUIRE_FACILITY(dns_ && provider_, "could not start the DNS stub and the fake provider on 127.0.92.x");
    for (const char* tool : {"/usr/bin/node", "/usr/bin/curl"}) {
      AWF_REQUIRE_FACILITY(fs::exists(tool), std::string(tool) + " is not installed");
    }
    AWF_REQUIRE_FACILITY(fs::exists(sdk_dir() + "/node_modules/openai/package.json") &&
                             fs::exists(sdk_dir() + "/node_modules/@anthropic-ai/sdk/package.json"),
                         "the LLM SDKs are not installed in " + sdk_dir() + " (scripts/install-deps.sh)");
    // The command runs as the mapped user: what it reads must be readable.
    for (TempDir* d : {&scripts_, &workspace_}) ::chmod(d->path().c_str(), 0777);
    awf::testing::write_file(scripts_.file("sdk_check.cjs"), kSdkScript);
    ::chmod(scripts_.file("sdk_check.cjs").c_str(), 0644);
  }

  struct Run {
    int exit_code = -1;
    std::string out, err;
  };

  // awf with the test's DNS, hosts file and a fresh log directory; the SDKs
  // and the script mounted read-only, the workspace as the command's cwd.
  Run awf(std::vector<std::string> flags, const std::string& command, std::vector<std::string> env) {
    std::vector<std::string> argv = {kAwf,          "--dns-servers",    kDns,
                                     "--hosts-file", etc_->file("hosts"), "--proxy-logs-dir",
                                     logs_.path(),  "--allow-domains",  "allowed.test",
                                     "-v",          sdk_dir() + ":/llm-sdks:ro",
                                     "-v",          scripts_.path() + ":/awf-e2e:ro",
                                     "-v",          workspace_.path() + ":" + workspace_.path() + ":rw",
                                     "--container-workdir", workspace_.path(),
                                     "-e",          "NODE_PATH=/llm-sdks/node_modules"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.insert(argv.end(), {"--", command});
    env.push_back("AWF_STATE_DIR=" + state_.path());
    auto p = Process::spawn(argv, env);
    Run r;
    auto code = p->wait(120s);
    r.exit_code = code ? *code : -1;
    r.out = p->stdout_text();
    r.err = p->stderr_text();
    return r;
  }

  static std::unique_ptr<TempDir> etc_, certs_;
  static inline std::string netns_error_;
  static std::unique_ptr<DnsStub> dns_;
  static std::unique_ptr<FakeProvider> provider_;
  TempDir logs_, state_, scripts_, workspace_;
};

std::unique_ptr<TempDir> ApiProxyEndToEnd::etc_, ApiProxyEndToEnd::certs_;
std::unique_ptr<DnsStub> ApiProxyEndToEnd::dns_;
std::unique_ptr<FakeProvider> ApiProxyEndToEnd::provider_;

TEST_F(ApiProxyEndToEnd, SdksWorkWithPlaceholdersAndTheRealKeysGoOnlyToTheProvider) {
  const std::string openai_key = random_key("sk-proj-");
  const std::string anthropic_key = random_key("sk-ant-api03-");
  const std::size_t before = provider_->requests();
  auto r = awf({"--api-proxy-ca-cert", provider_->ca_cert_path(), "--log-level", "debug"},
               "node /awf-e2e/sdk_check.cjs && " + std::string(kDumpScript),
               {"OPENAI_API_KEY=" + openai_key, "ANTHROPIC_API_KEY=" + anthropic_key,
                "OPENAI_API_TARGET=api.openai.test", "ANTHROPIC_API_TARGET=api.anthropic.test"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // The SDKs saw placeholders and the listeners, and completed both calls.
  EXPECT_EQ(r.out,
            "OPENAI_API_KEY=sk-placeholder-for-api-proxy\n"
            "OPENAI_BASE_URL=http://127.0.0.1:10000\n"
            "ANTHROPIC_AUTH_TOKEN=sk-ant-placeholder-key-for-credential-isolation\n"
            "ANTHROPIC_BASE_URL=http://127.0.0.1:10001\n"
            "ANTHROPIC_API_KEY=<unset>\n"
            "openai chat: gpt-e2e true\n"
            "openai stream: true\n"
            "anthropic message: claude-e2e text\n"
            "anthropic stream: true\n");

  // The provider got the real keys, once per request, and nothing else.
  const auto all = provider_->recorded_requests();
  ASSERT_EQ(all.size(), before + 4) << r.err;
  for (std::size_t i = before; i < all.size(); ++i) {
    const auto& req = all[i];
    const bool anthropic = req.target.ends_with("/messages");
    EXPECT_EQ(req.sni, anthropic ? "api.anthropic.test" : "api.openai.test") << req.target;
    if (anthropic) {
      EXPECT_EQ(req.target, "/v1/messages");
      EXPECT_EQ(req.header_count("x-api-key"), 1u);
      EXPECT_EQ(req.header("x-api-key"), anthropic_key);
      EXPECT_EQ(req.header_count("authorization"), 0u) << "the SDK's Bearer placeholder is dropped";
    } else {
      EXPECT_EQ(req.target, "/chat/completions");
      EXPECT_EQ(req.header_count("authorization"), 1u);
      EXPECT_EQ(req.header("authorization"), "Bearer " + openai_key);
    }
    for (const auto& [name, value] : req.headers) {
      EXPECT_EQ(value.find("placeholder"), std::string::npos) << name << ": " << value;
    }
  }

  // Nothing the agent could read holds a key: its environment, every
  // process's environ and cmdline it can see, files under $HOME, /tmp and
  // the workspace, and what it printed.
  const std::string dump = awf::testing::read_file(workspace_.file("agent-view.dump"));
  ASSERT_NE(dump.find("OPENAI_BASE_URL=http://127.0.0.1:10000"), std::string::npos) << "the dump ran";
  const auto environ_at = dump.find("/environ\n");
  ASSERT_NE(environ_at, std::string::npos) << dump.substr(0, 4000);
  ASSERT_NE(dump.find("OPENAI_API_KEY=sk-placeholder-for-api-proxy", environ_at), std::string::npos)
      << "the dump read the processes' environments:\n" << dump.substr(0, 4000);
  for (const auto& key : {openai_key, anthropic_key}) {
    EXPECT_EQ(dump.find(key), std::string::npos);
    EXPECT_EQ(dump.find(key.substr(key.size() - 16)), std::string::npos) << "not even its tail";
    EXPECT_EQ(r.out.find(key.substr(key.size() - 16)), std::string::npos);
  }

  // No log of the run (awf's own output at debug level, with the proxy's;
  // every file of the log directory; awf's run records) holds a key or a
  // 4-character piece of one.
  auto files = files_under(logs_.path());
  for (const auto& [path, text] : files_under(state_.path())) files[path] = text;
  files["<awf stderr>"] = r.err;
  files["<awf stdout>"] = r.out;
  ASSERT_TRUE(files.count(logs_.path() + "/access.log")) << "the logs are there to search";
  // The prefixes ("sk-proj-", "sk-ant-api03-") are public, the same for
  // every key of the provider, and overlap the placeholders: the pieces are
  // those of the secret part, which is what a redactor must keep out.
  const std::string secret_parts[] = {openai_key.substr(std::string("sk-proj-").size()),
                                      anthropic_key.substr(std::string("sk-ant-api03-").size())};
  for (const auto& [path, text] : files) {
    for (const auto& key : {openai_key, anthropic_key}) EXPECT_EQ(text.find(key), std::string::npos) << path;
    for (const auto& secret : secret_parts) {
      EXPECT_EQ(pieces_in(text, secret), std::vector<std::string>{}) << path;
    }
  }
}

TEST_F(ApiProxyEndToEnd, UnconfiguredProvidersAnswerAndTheProviderIsNotReachableDirectly) {
  const std::string openai_key = random_key("sk-proj-");
  const std::size_t before = provider_->requests();
  // The model policy of --config reaches the proxy: a model outside the
  // allow list is refused without a request to the provider.
  TempDir config;
  awf::testing::write_file(config.file("awf.json"), R"({"apiProxy": {"allowedModels": ["gpt-ok-*"]}})");
  auto r = awf({"--api-proxy-ca-cert", provider_->ca_cert_path(), "--config", config.file("awf.json")},
               "curl -s --max-time 10 -H 'Content-Type: application/json' -d '{\"model\":\"gpt-other\"}' "
               "-w ' %{http_code}\\n' http://127.0.0.1:10000/chat/completions; "
               "curl -s --max-time 10 -w ' %{http_code}\\n' http://127.0.0.1:10003/v1beta/models; "
               "curl -s --max-time 10 -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:10000/health; "
               "curl -sk --max-time 10 -o /dev/null -w '%{http_code}\\n' https://api.openai.test/chat/completions; "
               "echo \"curl $?\"",
               {"OPENAI_API_KEY=" + openai_key, "OPENAI_API_TARGET=api.openai.test"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"type\":\"model_policy_violation\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 403\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Gemini proxy not configured"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 503\n200\n"), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.ends_with("\n000\ncurl 56\n")) << "not on the allowlist, the CONNECT is refused: " << r.out;
  EXPECT_EQ(provider_->requests(), before)
      << "the policy refusal and health are answered locally, the direct request refused";
}

TEST_F(ApiProxyEndToEnd, WithoutAKeyOrWithNoApiProxyThereIsNoListenerAndNoKey) {
  const std::string check =
      "echo \"${OPENAI_API_KEY:-no-key}|${OPENAI_BASE_URL:-no-url}|${AWF_API_PROXY_IP:-no-ip}\"; "
      "curl -s --max-time 5 -o /dev/null http://127.0.0.1:10000/health; echo \"curl $?\"";
  auto without = awf({}, check, {});
  EXPECT_EQ(without.exit_code, 0) << without.err;
  EXPECT_EQ(without.out, "no-key|no-url|no-ip\ncurl 7\n") << "no listener: connection refused";

  const std::string openai_key = random_key("sk-proj-");
  auto off = awf({"--no-api-proxy", "--env-all", "-e", "OPENAI_API_KEY=" + openai_key}, check,
                 {"OPENAI_API_KEY=" + openai_key});
  EXPECT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(off.out, "no-key|no-url|no-ip\ncurl 7\n") << "off, the key still stays withheld";
  EXPECT_NE(off.err.find("-e OPENAI_API_KEY: not passed to the agent"), std::string::npos) << off.err;
  EXPECT_EQ(off.err.find(openai_key), std::string::npos);
}

}  // namespace
