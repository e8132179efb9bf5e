// Formatting of access-log records in awf's and Squid's shapes, and the
// writer thread that owns the files (rotation by SIGUSR1 reopen).
#include "awf/proxy/access_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "awf/iso8601.h"
#include "awf/proxy/metrics.h"

namespace awf::proxy {

const char* to_string(ResultCode code) {
  switch (code) {
    case ResultCode::tcp_tunnel: return "TCP_TUNNEL";
    case ResultCode::tcp_miss: return "TCP_MISS";
    case ResultCode::tcp_denied: return "TCP_DENIED";
    case ResultCode::none_none: return "NONE_NONE";
  }
  return "NONE_NONE";
}

const char* to_string(Listener l) {
  switch (l) {
    case Listener::forward: return "forward";
    case Listener::http_intercept: return "http_intercept";
    case Listener::tls_intercept: return "tls_intercept";
    case Listener::socks: return "socks";
    case Listener::dns: return "dns";
    case Listener::api: return "api";
  }
  return "forward";
}

const char* to_string(Hierarchy h) {
  switch (h) {
    case Hierarchy::direct: return "HIER_DIRECT";
    case Hierarchy::none: return "HIER_NONE";
    case Hierarchy::default_parent: return "DEFAULT_PARENT";
  }
  return "HIER_NONE";
}

namespace {

constexpr std::size_t kBatch = 256;                       // records that wake the writer at once
constexpr auto kFlushEvery = std::chrono::milliseconds(50);  // upper bound on log latency

// %ts.%03tu: epoch seconds and milliseconds.
// Numbers are formatted with to_chars: no locale, no format string.
template <typename Int>
void append_integer(std::string& out, Int v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void append_millis_part(std::string& out, long long ms) {
  const auto m = static_cast<int>(ms % 1000);
  const char digits[3] = {static_cast<char>('0' + m / 100), static_cast<char>('0' + m / 10 % 10),
                          static_cast<char>('0' + m % 10)};
  out.append(digits, 3);
}

void epoch_millis_to(std::string& out, std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  append_integer(out, static_cast<long long>(ms / 1000));
  out += '.';
  append_millis_part(out, ms);
}

void append_number(std::string& out, long long v) { append_integer(out, v); }
void append_number(std::string& out, unsigned long long v) { append_integer(out, v); }

// %{%Y-%m-%dT%H:%M:%S}tg.%03tuZ: UTC. The date and time of day change once a
// second while records come by the thousand: each thread keeps the last one.
void iso_millis_to(std::string& out, std::chrono::system_clock::time_point t) {
  thread_local long long cached_secs = -1;
  thread_local std::string cached_prefix;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const long long secs = ms / 1000;
  if (secs != cached_secs) {
    cached_prefix = iso8601_utc(std::chrono::sys_seconds(std::chrono::seconds(secs)), Iso8601Precision::seconds);
    cached_prefix.pop_back();  // the 'Z': the milliseconds go first
    cached_secs = secs;
  }
  out += cached_prefix;
  out += '.';
  append_millis_part(out, ms);
  out += 'Z';
}

constexpr char kHex[] = "0123456789ABCDEF";

void append_pct(std::string& out, unsigned char c) {
  const char buf[3] = {'%', kHex[c >> 4], kHex[c & 0xf]};
  out.append(buf, 3);
}

// The text formats follow what Squid 5 writes for awf's logformats (checked
// against a live Squid by tests/differential). The *_to helpers append the
// unchanged stretches in one go: escapes are rare.

// A quoted field ("%{User-Agent}>h"): Squid backslash-escapes '"' and '\\'
// and writes everything else raw. Control bytes, which Squid also writes raw,
// become \xHH here, so a client cannot put terminal escapes into a log line.
void quote_safe_to(std::string& out, std::string_view s) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != 0x7f && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      const char buf[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xf]};
      out.append(buf, 4);
    }
  }
  out.append(s.data() + run, s.size() - run);
}

// Appends `s` with the bytes `escaped(c)` picks as %XX, "-" for an empty
// field (the space-separated line must not lose a column).
template <typename Escaped>
void pct_escape_to(std::string& out, std::string_view s, Escaped escaped) {
  if (s.empty()) {
    out += '-';
    return;
  }
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (escaped(c)) {
      out.append(s.data() + run, i - run);
      append_pct(out, c);
      run = i + 1;
    }
  }
  out.append(s.data() + run, s.size() - run);
}

// An unquoted field (%rm, %ru, %mt): Squid writes it raw, so do we, except
// for the bytes that would split the line (a parsed request has none).
void token_safe_to(std::string& out, std::string_view s) {
  pct_escape_to(out, s, [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

// The unquoted %{Host}>h: Squid URL-escapes RFC 1738's unsafe characters
// except '%' (its rfc1738_escape_unescaped), so an IPv6 literal is logged
// as %5B::1%5D:443. Only IP-literal brackets occur in practice: the field
// is the host the request was routed to.
constexpr std::string_view kRfc1738Unsafe = "<>\"#{}|\\^~[]`' ";
void host_escape_to(std::string& out, std::string_view s) {
  pct_escape_to(out, s, [](unsigned char c) {
    return c < 0x20 || c >= 0x7f || kRfc1738Unsafe.find(static_cast<char>(c)) != std::string_view::npos;
  });
}

// Length of the well-formed UTF-8 sequence at s[i] (Unicode 15, Table 3-7:
// no overlong forms, no surrogates, nothing above U+10FFFF), 0 if there is
// none.
std::size_t utf8_sequence_at(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  auto cont = [](unsigned c) { return c >= 0x80 && c <= 0xbf; };
  const unsigned c = byte(0);
  if (c >= 0xc2 && c <= 0xdf) return cont(byte(1)) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    return byte(1) >= lo && byte(1) <= hi && cont(byte(2)) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    return byte(1) >= lo && byte(1) <= hi && cont(byte(2)) && cont(byte(3)) ? 4 : 0;
  }
  return 0;
}

// A JSON string body that is valid UTF-8 whatever the input: a strict
// reader (RFC 8259 §8.1) stops at the first bad byte, and a client chooses
// the bytes of an intercepted Host. Well-formed UTF-8 passes unchanged;
// each byte that is not part of one becomes \ufffd (U+FFFD, as WHATWG's
// decoder does). The original bytes stay in access.log, %-escaped.
// Bytes a JSON string carries as they are: printable ASCII but '"' and '\\'.
constexpr std::array<bool, 256> kJsonPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

void json_escape_to(std::string& out, std::string_view s) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size();) {
    // Log fields are almost all plain: skip a run of them with one table
    // look-up per byte, then handle the byte that ends it.
    while (i < s.size() && kJsonPlain[static_cast<unsigned char>(s[i])]) ++i;
    if (i == s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    const char* esc = nullptr;
    switch (c) {
      case '"': esc = "\\\""; break;
      case '\\': esc = "\\\\"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\t': esc = "\\t"; break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          ++i;
          continue;
        }
        if (c >= 0x80) {
          if (std::size_t n = utf8_sequence_at(s, i)) {
            i += n;
            continue;
          }
          esc = "\\ufffd";
        }
    }
    out.append(s.data() + run, i - run);
    run = ++i;
    if (esc) {
      out += esc;
    } else {
      const char buf[6] = {'\\', 'u', '0', '0', static_cast<char>(kHex[c >> 4] | 0x20), static_cast<char>(kHex[c & 0xf] | 0x20)};
      out.append(buf, 6);
    }
  }
  out.append(s.data() + run, s.size() - run);
}

}  // namespace

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  json_escape_to(out, s);
  return out;
}

namespace {

// %Ss with Squid's error tags: a transfer cut short is TCP_MISS_ABORTED,
// one ended by a timeout TCP_MISS_TIMEDOUT_ABORTED.
void append_code(std::string& line, const LogRecord& r) {
  line += to_string(r.code);
  if (r.timed_out) line += "_TIMEDOUT";
  if (r.aborted) line += "_ABORTED";
}

}  // namespace

void append_firewall_detailed(std::string& line, const LogRecord& r) {
  // %ts.%03tu %>a:%>p %{Host}>h %<a:%<p %rv %rm %>Hs %Ss:%Sh %ru "%{User-Agent}>h"
  epoch_millis_to(line, r.time);
  line += ' ';
  line += r.client_ip;
  line += ':';
  append_number(line, static_cast<long long>(r.client_port));
  line += ' ';
  host_escape_to(line, r.host);
  line += ' ';
  line += r.dest;
  line += ' ';
  line += r.version;
  line += ' ';
  token_safe_to(line, r.method);
  line += ' ';
  append_number(line, static_cast<long long>(r.status));
  line += ' ';
  append_code(line, r);
  line += ':';
  line += to_string(r.hierarchy);
  if (r.ech) line += "_ECH";
  line += ' ';
  token_safe_to(line, r.url);
  line += " \"";
  if (!r.api_provider.empty()) {
    line += "provider=";
    quote_safe_to(line, r.api_provider);
    line += " model=";
    quote_safe_to(line, r.api_model.empty() ? std::string_view("-") : std::string_view(r.api_model));
  } else if (r.repeated) {
    line += "repeated ";
    append_number(line, static_cast<unsigned long long>(r.repeated));
    line += " times";
  } else {
    quote_safe_to(line, r.user_agent);
  }
  line += '"';
}

void append_audit_jsonl(std::string& line, const LogRecord& r, const std::string& version) {
  line += "{\"_schema\":\"audit/v";
  json_escape_to(line, version);
  line += "\",\"timestamp\":\"";
  iso_millis_to(line, r.time);
  line += r.api_provider.empty() ? "\",\"event\":\"http_access\",\"client\":\"" : "\",\"event\":\"api_request\",\"client\":\"";
  json_escape_to(line, r.client_ip);
  line += "\",\"host\":\"";
  json_escape_to(line, r.host);
  line += "\",\"dest\":\"";
  json_escape_to(line, r.dest);
  line += "\",\"method\":\"";
  json_escape_to(line, r.method);
  line += "\",\"status\":";
  append_number(line, static_cast<long long>(r.status));
  line += ",\"decision\":\"";
  append_code(line, r);
  line += "\",\"url\":\"";
  json_escape_to(line, r.url);
  if (!r.original_dest.empty()) {
    line += "\",\"original_dest\":\"";
    json_escape_to(line, r.original_dest);
  }
  if (!r.dlp_pattern.empty()) {
    line += "\",\"dlp\":\"";
    json_escape_to(line, r.dlp_pattern);
  }
  if (!r.tunnel_sni.empty()) {
    line += "\",\"sni\":\"";
    json_escape_to(line, r.tunnel_sni);
  }
  if (!r.reason.empty()) {
    line += "\",\"reason\":\"";
    json_escape_to(line, r.reason);
  }
  if (!r.would_deny.empty()) {
    line += "\",\"would_deny\":\"";
    json_escape_to(line, r.would_deny);
  }
  line += '"';
  if (r.via_socks) line += ",\"listener\":\"socks\"";
  if (r.ech) line += ",\"ech\":true";
  if (r.repeated) {
    line += ",\"repeated\":";
    append_number(line, static_cast<unsigned long long>(r.repeated));
  }
  if (!r.api_provider.empty()) {
    line += ",\"provider\":\"";
    json_escape_to(line, r.api_provider);
    line += "\",\"model\":\"";
    json_escape_to(line, r.api_model);
    line += "\",\"request_id\":\"";
    json_escape_to(line, r.api_request_id);
    line += "\",\"request_bytes\":";
    append_number(line, static_cast<unsigned long long>(r.api_request_bytes));
    line += ",\"response_bytes\":";
    append_number(line, static_cast<unsigned long long>(r.bytes_to_client));
    line += ",\"duration_ms\":";
    append_number(line, static_cast<long long>(r.duration.count()));
  }
  line += '}';
}

void append_squid_native(std::string& line, const LogRecord& r) {
  // Squid's default "squid" logformat:
  // %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt
  std::string_view dest_ip = "-";
  if (r.dest != "-:-") dest_ip = std::string_view(r.dest).substr(0, r.dest.rfind(':'));
  epoch_millis_to(line, r.time);
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, " %6lld ", static_cast<long long>(r.duration.count()));
  line.append(buf, static_cast<std::size_t>(n));
  line += r.client_ip;
  line += ' ';
  append_code(line, r);
  line += '/';
  n = std::snprintf(buf, sizeof buf, "%03d", r.status);
  line.append(buf, static_cast<std::size_t>(n));
  line += ' ';
  append_number(line, static_cast<unsigned long long>(r.bytes_to_client));
  line += ' ';
  token_safe_to(line, r.method);
  line += ' ';
  token_safe_to(line, r.url);
  if (r.api_provider.empty()) {
    line += " - ";
  } else {
    line += " provider=";
    token_safe_to(line, r.api_provider);
    line += ",model=";
    token_safe_to(line, r.api_model);  // "-" when empty
    line += ' ';
  }
  line += to_string(r.hierarchy);
  if (r.ech) line += "_ECH";
  line += '/';
  line += dest_ip;
  line += ' ';
  if (r.repeated) {
    line += "repeated=";
    append_number(line, static_cast<unsigned long long>(r.repeated));
  } else {
    token_safe_to(line, r.content_type);
  }
}

std::string format_firewall_detailed(const LogRecord& r) {
  std::string line;
  line.reserve(160 + r.url.size() + r.user_agent.size());
  append_firewall_detailed(line, r);
  return line;
}

std::string format_audit_jsonl(const LogRecord& r, const std::string& version) {
  std::string line;
  line.reserve(256 + r.url.size());
  append_audit_jsonl(line, r, version);
  return line;
}

std::string format_squid_native(const LogRecord& r) {
  std::string line;
  line.reserve(160 + r.url.size());
  append_squid_native(line, r);
  return line;
}

struct AccessLog::Node {
  LogRecord record;
  Node* next = nullptr;
};

AccessLog::AccessLog(Options options) : options_(std::move(options)), format_(options_.format) {}

Result<std::unique_ptr<AccessLog>> AccessLog::open(const Options& options) {
  std::unique_ptr<AccessLog> log(new AccessLog(options));
  if (Status s = log->open_files(); !s) return s.error();
  log->writer_ = std::thread([p = log.get()] { p->run(); });
  return log;
}

Status AccessLog::open_files() {
  if (options_.dir.empty()) {
    access_.name = "stderr";
    access_.fd = STDERR_FILENO;
    return ok_status();
  }
  auto open_one = [this](const std::string& path, Sink& sink) -> Status {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
      return Error{"cannot open log file \"" + path + "\": " + std::strerror(errno)};
    }
    close_sink(sink);
    sink.name = path;
    sink.fd = fd;
    sink.owned = true;
    return ok_status();
  };
  if (Status s = open_one(options_.dir + "/access.log", access_); !s) return s;
  return open_one(options_.dir + "/audit.jsonl", audit_);
}

void AccessLog::close_sink(Sink& sink) {
  if (sink.owned && sink.fd >= 0) ::close(sink.fd);
  sink.fd = -1;
  sink.owned = false;
}

AccessLog::~AccessLog() { stop(); }

void AccessLog::write(LogRecord record) {
  auto* node = new Node{std::move(record), pending_.load(std::memory_order_relaxed)};
  while (!pending_.compare_exchange_weak(node->next, node, std::memory_order_release, std::memory_order_relaxed)) {
  }
  // The writer wakes every kFlushEvery on its own; a full batch wakes it
  // early (the lock, once per kBatch records, keeps that wake-up from
  // slipping in between its check and its sleep).
  if (pending_count_.fetch_add(1, std::memory_order_relaxed) + 1 == kBatch) {
    std::lock_guard lock(mutex_);
    wake_.notify_one();
  }
}

void AccessLog::set_format(LogFormat format) { format_.store(format, std::memory_order_relaxed); }

void AccessLog::reopen() {
  reopen_requested_ = true;
  wake_.notify_one();
}

void AccessLog::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (writer_.joinable()) writer_.join();
  // Whatever was written while the writer finished (nothing, normally).
  write_out(pending_.exchange(nullptr, std::memory_order_acquire));
  // Lines lost to the end (the disk never freed up): said once more, so the
  // last words of the process carry the count.
  for (Sink* sink : {&access_, &audit_}) {
    if (sink->losing) {
      spdlog::error("{}: {} log lines were lost since it could not be written ({}); {} lost in all",
                    sink->name, sink->lost, std::strerror(sink->error), sink->lost_total);
    }
    close_sink(*sink);
  }
}

void AccessLog::run() {
  for (;;) {
    bool last = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kFlushEvery, [&] {
        return stopping_ || reopen_requested_ || pending_count_.load(std::memory_order_relaxed) >= kBatch;
      });
      last = stopping_;
    }
    if (reopen_requested_.exchange(false)) {
      if (Status s = open_files(); !s) std::fprintf(stderr, "awf-proxy: warning: %s\n", s.message().c_str());
    }
    pending_count_.store(0, std::memory_order_relaxed);
    write_out(pending_.exchange(nullptr, std::memory_order_acquire));
    // stop() set `stopping_` after the sessions were done: what they wrote is
    // in the list just taken.
    if (last) return;
  }
}

void AccessLog::write_out(Node* newest_first) {
  if (!newest_first) return;
  // Oldest first, as they were written (per I/O thread).
  Node* list = nullptr;
  while (newest_first) {
    Node* next = newest_first->next;
    newest_first->next = list;
    list = newest_first;
    newest_first = next;
  }
  text_.clear();
  json_.clear();
  const LogFormat format = format_.load(std::memory_order_relaxed);
  while (list) {
    const LogRecord& r = list->record;
    if (options_.metrics) options_.metrics->count(r);
    // Appended in place: no string per record.
    if (format == LogFormat::squid) {
      append_squid_native(text_, r);
    } else {
      append_firewall_detailed(text_, r);
    }
    text_ += '\n';
    if (audit_.fd >= 0) {
      append_audit_jsonl(json_, r, options_.version);
      json_ += '\n';
    }
    Node* next = list->next;
    delete list;
    list = next;
  }
  write_lines(access_, text_, false);
  if (!json_.empty() && audit_.fd >= 0) write_lines(audit_, json_, true);
}

namespace {

std::size_t count_lines(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// Whether the file system holding `fd` has room for `bytes` more. Asked only
// while lines are being lost: a full tmpfs still takes a few bytes into the
// last page of a file, and lines let through now and then would make the
// loss come and go (a message each time) instead of one stretch.
bool has_room(int fd, std::size_t bytes) {
  struct statvfs st {};
  if (::fstatvfs(fd, &st) != 0) return true;  // cannot tell: try the write
  const unsigned long long block = st.f_frsize ? st.f_frsize : st.f_bsize;
  return static_cast<unsigned long long>(st.f_bfree) * block >= bytes + block;
}

}  // namespace

// Writes whole lines. A short write (the disk filled up in the middle) is cut
// back to the last complete line it wrote, so a reader never meets half a
// line, nor a line glued to the next one once writing works again; the lines
// not written are counted as lost. Nothing is kept for later: the writer must
// not grow without bound while the disk stays full, and the I/O threads never
// wait for it.
void AccessLog::write_lines(Sink& sink, const std::string& lines, bool audit) {
  if (sink.fd < 0 || lines.empty()) return;
  std::size_t done = 0;
  int error = 0;
  const bool out_of_space = sink.error == ENOSPC || sink.error == EDQUOT;
  if (sink.losing && sink.owned && out_of_space && !has_room(sink.fd, lines.size())) {
    error = sink.error;
  } else {
    // stderr is shared with the diagnostics: stdio's lock keeps their lines
    // from landing inside a batch of ours.
    if (!sink.owned) flockfile(stderr);
    while (done < lines.size()) {
      const ssize_t n = ::write(sink.fd, lines.data() + done, lines.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = n < 0 ? errno : ENOSPC;
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    if (!sink.owned) funlockfile(stderr);
  }
  if (done == lines.size()) {
    if (sink.losing) {
      spdlog::warn("{} is written again; {} log lines were lost while it could not be ({})", sink.name, sink.lost,
                   std::strerror(sink.error));
      sink.losing = false;
      sink.lost = 0;
    }
    return;
  }
  // Keep only the complete lines among the `done` bytes written. Only our
  // own files are cut back: on stderr others write between our batches.
  const std::size_t last_newline = done == 0 ? std::string::npos : lines.rfind('\n', done - 1);
  const std::size_t kept = last_newline == std::string::npos ? 0 : last_newline + 1;
  if (kept < done && sink.owned) {
    const off_t end = ::lseek(sink.fd, 0, SEEK_END);
    if (end >= 0 && ::ftruncate(sink.fd, end - static_cast<off_t>(done - kept)) != 0) {
      spdlog::warn("{}: cannot remove a partly written line: {}", sink.name, std::strerror(errno));
    }
  }
  const std::uint64_t lost = count_lines(std::string_view(lines).substr(kept));
  if (!sink.losing) {
    sink.losing = true;
    sink.error = error;
    spdlog::error("cannot write to {}: {}; log lines are being lost (counted) until it can be written again",
                  sink.name, std::strerror(error));
  }
  sink.lost += lost;
  sink.lost_total += lost;
  auto& counter = audit ? lost_audit_ : lost_access_;
  counter.store(sink.lost_total, std::memory_order_relaxed);
  if (options_.metrics) options_.metrics->count_lost_lines(audit, lost);
}

}  // namespace awf::proxy
