// Formatting of access-log records in awf's and Squid's shapes, and the
// writer thread that owns the files (rotation by SIGUSR1 reopen).
#include "awf/proxy/access_log.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

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

const char* to_string(Hierarchy h) { return h == Hierarchy::direct ? "HIER_DIRECT" : "HIER_NONE"; }

namespace {

constexpr std::size_t kBatch = 256;                       // records that wake the writer at once
constexpr auto kFlushEvery = std::chrono::milliseconds(50);  // upper bound on log latency

// %ts.%03tu: epoch seconds and milliseconds.
std::string epoch_millis(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(ms / 1000), static_cast<long long>(ms % 1000));
  return buf;
}

// %{%Y-%m-%dT%H:%M:%S}tg.%03tuZ: UTC.
std::string iso_millis(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03lldZ", static_cast<long long>(ms % 1000));
  return buf;
}

// Squid quotes header values in logs: keep printable text, %-encode what
// would break the quoted field (quote, backslash, control bytes).
std::string quote_safe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '%') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Fields without quotes must not contain spaces or control bytes.
std::string token_safe(std::string_view s) {
  if (s.empty()) return "-";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f || c == '"' || c == '%') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

std::string format_firewall_detailed(const LogRecord& r) {
  // %ts.%03tu %>a:%>p %{Host}>h %<a:%<p %rv %rm %>Hs %Ss:%Sh %ru "%{User-Agent}>h"
  std::string line;
  line.reserve(160 + r.url.size() + r.user_agent.size());
  line += epoch_millis(r.time);
  line += ' ';
  line += r.client_ip;
  line += ':';
  line += std::to_string(r.client_port);
  line += ' ';
  line += token_safe(r.host);
  line += ' ';
  line += r.dest;
  line += ' ';
  line += r.version;
  line += ' ';
  line += token_safe(r.method);
  line += ' ';
  line += std::to_string(r.status);
  line += ' ';
  line += to_string(r.code);
  line += ':';
  line += to_string(r.hierarchy);
  line += ' ';
  line += token_safe(r.url);
  line += " \"";
  line += quote_safe(r.user_agent);
  line += '"';
  return line;
}

std::string format_audit_jsonl(const LogRecord& r, const std::string& version) {
  std::string line;
  line.reserve(256 + r.url.size());
  line += "{\"_schema\":\"audit/v";
  line += json_escape(version);
  line += "\",\"timestamp\":\"";
  line += iso_millis(r.time);
  line += "\",\"event\":\"http_access\",\"client\":\"";
  line += json_escape(r.client_ip);
  line += "\",\"host\":\"";
  line += json_escape(r.host);
  line += "\",\"dest\":\"";
  line += json_escape(r.dest);
  line += "\",\"method\":\"";
  line += json_escape(r.method);
  line += "\",\"status\":";
  line += std::to_string(r.status);
  line += ",\"decision\":\"";
  line += to_string(r.code);
  line += "\",\"url\":\"";
  line += json_escape(r.url);
  if (!r.original_dest.empty()) {
    line += "\",\"original_dest\":\"";
    line += json_escape(r.original_dest);
  }
  line += "\"}";
  return line;
}

std::string format_squid_native(const LogRecord& r) {
  // Squid's default "squid" logformat:
  // %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt
  std::string dest_ip = "-";
  if (r.dest != "-:-") dest_ip = r.dest.substr(0, r.dest.rfind(':'));
  char head[96];
  std::snprintf(head, sizeof head, "%s %6lld ", epoch_millis(r.time).c_str(),
                static_cast<long long>(r.duration.count()));
  char status[8];
  std::snprintf(status, sizeof status, "%03d", r.status);
  std::string line = head;
  line += r.client_ip;
  line += ' ';
  line += to_string(r.code);
  line += '/';
  line += status;
  line += ' ';
  line += std::to_string(r.bytes_to_client);
  line += ' ';
  line += token_safe(r.method);
  line += ' ';
  line += token_safe(r.url);
  line += " - ";
  line += to_string(r.hierarchy);
  line += '/';
  line += dest_ip;
  line += ' ';
  line += token_safe(r.content_type);
  return line;
}

AccessLog::AccessLog(Options options) : options_(std::move(options)) {}

Result<std::unique_ptr<AccessLog>> AccessLog::open(const Options& options) {
  std::unique_ptr<AccessLog> log(new AccessLog(options));
  if (Status s = log->open_files(); !s) return s.error();
  log->writer_ = std::thread([p = log.get()] { p->run(); });
  return log;
}

Status AccessLog::open_files() {
  if (options_.dir.empty()) return ok_status();
  auto open_one = [](const std::string& path, std::FILE*& out) -> Status {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      return Error{"cannot open log file \"" + path + "\": " + std::strerror(errno)};
    }
    std::FILE* f = ::fdopen(fd, "a");
    if (!f) {
      ::close(fd);
      return Error{"cannot open log file \"" + path + "\": " + std::strerror(errno)};
    }
    if (out) std::fclose(out);
    out = f;
    return ok_status();
  };
  if (Status s = open_one(options_.dir + "/access.log", access_); !s) return s;
  return open_one(options_.dir + "/audit.jsonl", audit_);
}

AccessLog::~AccessLog() { stop(); }

void AccessLog::write(LogRecord record) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(record));
    wake = queue_.size() == kBatch;
  }
  // The writer also wakes every kFlushEvery on its own: waking it per
  // record would cost a futex call per request.
  if (wake) wake_.notify_one();
}

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
  if (access_) std::fclose(access_);
  if (audit_) std::fclose(audit_);
  access_ = audit_ = nullptr;
}

void AccessLog::run() {
  std::vector<LogRecord> batch;
  std::string text, json;
  for (;;) {
    bool last = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kFlushEvery, [&] { return stopping_ || queue_.size() >= kBatch || reopen_requested_; });
      batch.swap(queue_);
      last = stopping_;
    }
    if (reopen_requested_.exchange(false)) {
      if (Status s = open_files(); !s) std::fprintf(stderr, "awf-proxy: warning: %s\n", s.message().c_str());
    }
    text.clear();
    json.clear();
    for (const LogRecord& r : batch) {
      text += options_.format == LogFormat::squid ? format_squid_native(r) : format_firewall_detailed(r);
      text += '\n';
      if (audit_) {
        json += format_audit_jsonl(r, options_.version);
        json += '\n';
      }
    }
    batch.clear();
    if (!text.empty()) {
      std::FILE* out = access_ ? access_ : stderr;
      std::fwrite(text.data(), 1, text.size(), out);
      std::fflush(out);
    }
    if (!json.empty() && audit_) {
      std::fwrite(json.data(), 1, json.size(), audit_);
      std::fflush(audit_);
    }
    if (last) {
      std::lock_guard lock(mutex_);
      if (queue_.empty()) return;
    }
  }
}

}  // namespace awf::proxy
