// The access log: one record per transaction, formatted as awf's
// firewall_detailed text line, awf's audit.jsonl object or Squid's native
// line, written by one writer thread so I/O threads never
// touch a file, and flushed completely at shutdown.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "awf/result.h"

namespace awf::proxy {

// Squid's result codes (%Ss) that awf's log tooling keys on.
enum class ResultCode : std::uint8_t { tcp_tunnel, tcp_miss, tcp_denied, none_none };
const char* to_string(ResultCode code);  // "TCP_TUNNEL", ...

// Squid's hierarchy codes (%Sh).
// default_parent: through --upstream-proxy, as Squid logs its default
// cache_peer parent (the destination field is then the parent's address).
enum class Hierarchy : std::uint8_t { direct, none, default_parent };
const char* to_string(Hierarchy h);  // "HIER_DIRECT", "HIER_NONE", "DEFAULT_PARENT"

enum class LogFormat : std::uint8_t { awf, squid };

// The front end a transaction came through, for the admin listener's
// metrics (metrics.h); the log formats do not show it.
enum class Listener : std::uint8_t { forward, http_intercept, tls_intercept, socks, dns, api };
const char* to_string(Listener l);  // "forward", "http_intercept", ...

class Metrics;  // metrics.h

struct LogRecord {
  std::chrono::system_clock::time_point time;  // when the transaction ended
  std::chrono::milliseconds duration{0};
  std::string client_ip;        // no brackets for IPv6, as Squid prints %>a
  std::uint16_t client_port = 0;
  std::string host = "-";       // Host header, normalised; "-" when absent
  std::string dest = "-:-";     // upstream ip:port, "-:-" when never connected
  std::string version = "1.1";  // %rv
  std::string method = "NONE";
  int status = 0;
  ResultCode code = ResultCode::none_none;
  Hierarchy hierarchy = Hierarchy::none;
  std::string url = "-";        // %ru
  std::string user_agent = "-";
  std::uint64_t bytes_to_client = 0;
  std::string content_type = "-";
  // Intercepted connections only: where the client was headed before the
  // nftables redirect (SO_ORIGINAL_DST), never dialled. audit.jsonl carries
  // it as "original_dest"; the text formats have no field for it.
  std::string original_dest;
  // tls-intercept: the ClientHello carried an encrypted_client_hello
  // extension (real or GREASE; its outer SNI is what was decided on). The
  // text formats add "_ECH" to the hierarchy code (TCP_TUNNEL:HIER_DIRECT_ECH,
  // which awf's parsers read as the same decision); audit.jsonl adds "ech":true.
  bool ech = false;
  // CONNECT tunnels to port 443 under the SNI check: the server name of the
  // ClientHello the tunnel opened with, when it is not the host CONNECT
  // named. audit.jsonl carries it as "sni"; a tunnel refused for its name
  // has it in the URL too (sni:443), so the text formats show the name that
  // was refused.
  std::string tunnel_sni;
  // --enable-dlp refused the request: the credential pattern's name. The
  // URL and Host are redacted already; audit.jsonl adds "dlp":"NAME".
  std::string dlp_pattern;
  // The connection came in on a SOCKS5 listener (--listen-socks). The text
  // formats keep their fields (a SOCKS CONNECT's version field is "-", it
  // has no HTTP version); audit.jsonl adds "listener":"socks".
  bool via_socks = false;
  // Why the proxy refused, as a short code an agent can act on: a policy
  // reason ("not_in_allowlist", "blocklisted", ...), "private_address",
  // "credential_in_url". audit.jsonl adds "reason"; a 403 page carries it
  // as X-Proxy-Error. Empty when nothing was refused.
  std::string reason;
  // --policy-mode report: what enforce would have refused, and why (the
  // same codes); the request went on. audit.jsonl adds "would_deny"; the
  // text formats show the real outcome.
  std::string would_deny;
  // A summary of identical records left out (repeated refused DNS queries):
  // how many. firewall_detailed writes "repeated N times" in the user-agent
  // field, Squid's native line "repeated=N" in the content-type field,
  // audit.jsonl "repeated":N.
  std::uint64_t repeated = 0;
  // API proxy requests only (an api-* listener's): the provider, the model
  // the request named ("" when none), the request id and the size of the
  // body sent. firewall_detailed writes "provider=P model=M" in the
  // user-agent field, Squid's native line "provider=P,model=M" in the user
  // field; audit.jsonl has event "api_request" and these fields, with
  // response_bytes and duration_ms. Every value is already redacted.
  std::string api_provider;  // empty: not an API request
  std::string api_model;
  std::string api_request_id;
  std::uint64_t api_request_bytes = 0;
  // Set by the front ends the other fields do not tell apart (intercepted
  // HTTP and TLS); SOCKS, DNS and API records are known by their own fields.
  Listener listener = Listener::forward;
  // The response was cut short after part of it reached the client: the
  // origin reset or closed the connection early (aborted), or went silent
  // until the idle timeout (timed_out, aborted too). As Squid does, the
  // result code gains "_TIMEDOUT" and/or "_ABORTED" (TCP_MISS_ABORTED/200):
  // status and bytes are what the client really got, never a completed
  // transfer.
  bool aborted = false;
  bool timed_out = false;
};

// Pure formatters (no trailing newline); tests compare them field by field.
std::string format_firewall_detailed(const LogRecord& r);
std::string format_audit_jsonl(const LogRecord& r, const std::string& version);
std::string format_squid_native(const LogRecord& r);
// JSON string body escaping (quotes, backslash, control bytes as \u00XX);
// always valid UTF-8: a byte that is not part of well-formed UTF-8 becomes
// \ufffd, so every audit.jsonl line passes a strict JSON reader.
std::string json_escape(std::string_view s);

class AccessLog {
 public:
  struct Options {
    std::string dir;  // empty: text lines to stderr, no audit file
    LogFormat format = LogFormat::awf;
    std::string version;  // for "_schema":"audit/v<version>"
    // --admin-listen: every record is counted here by the writer thread
    // (never by an I/O thread), whatever the log settings; null: not counted.
    Metrics* metrics = nullptr;
  };
  // Opens the files (error names the path and errno) and starts the writer.
  static Result<std::unique_ptr<AccessLog>> open(const Options& options);
  ~AccessLog();  // stops the writer after writing everything queued

  void write(LogRecord record);  // any thread; takes no lock and never blocks on I/O
  void reopen();                 // SIGUSR1: reopen files by name at the next batch
  void set_format(LogFormat format);  // SIGHUP: the text format from the next batch on
  void stop();                   // drain the queue, close files, join
  // Lines the writer could not write (full disk, I/O error), since start.
  std::uint64_t lost_lines(bool audit) const {
    return (audit ? lost_audit_ : lost_access_).load(std::memory_order_relaxed);
  }

 private:
  explicit AccessLog(Options options);
  struct Node;
  Status open_files();
  void run();
  void write_out(Node* newest_first);  // formats, writes and frees a taken list

  Options options_;
  // One log file (or stderr). A write that fails (a full disk, a quota, an
  // I/O error) loses whole lines only, counted; the first failure is said
  // once, the return to writing once, with the count.
  struct Sink {
    std::string name;  // the path, or "stderr"
    int fd = -1;
    bool owned = false;        // closed by us (not stderr)
    bool losing = false;       // the last write failed
    int error = 0;             // the errno of the first failed write of this stretch
    std::uint64_t lost = 0;    // lines lost in this stretch
    std::uint64_t lost_total = 0;
  };
  void write_lines(Sink& sink, const std::string& lines, bool audit);
  void close_sink(Sink& sink);

  std::atomic<LogFormat> format_;  // options_.format, changeable while running
  Sink access_;
  Sink audit_;
  // Records waiting for the writer: a lock-free stack (newest first) that
  // the I/O threads push onto with one compare-and-swap and the writer takes
  // whole with one exchange. The mutex only guards the writer's sleep.
  std::atomic<Node*> pending_{nullptr};
  std::atomic<std::size_t> pending_count_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<bool> reopen_requested_{false};
  std::string text_, json_;  // the writer's line buffers, reused
  std::atomic<std::uint64_t> lost_access_{0}, lost_audit_{0};
  std::thread writer_;
};

}  // namespace awf::proxy
