// Folding repeated refused DNS queries into one record and a count.
#include "awf/proxy/dns_refusal_log.h"

namespace awf::proxy {

namespace {

// The url holds the name and the type (dns://NAME/TYPE); the source port is
// left out on purpose: a stub resolver picks a new one for every query.
std::string key_of(const LogRecord& r) {
  std::string key;
  key.reserve(r.client_ip.size() + r.url.size() + 1);
  key += r.client_ip;
  key += ' ';
  key += r.url;
  return key;
}

}  // namespace

void DnsRefusalLog::write_summary(Entry& entry, const Write& write) {
  if (entry.repeats == 0) return;
  LogRecord summary = std::move(entry.latest);
  summary.repeated = entry.repeats;
  entry.repeats = 0;
  write(std::move(summary));
}

bool DnsRefusalLog::refused(LogRecord record, Clock::time_point now, const Write& write) {
  std::string key = key_of(record);
  auto it = entries_.find(key);
  if (it != entries_.end() && now < it->second.window_end) {
    ++it->second.repeats;
    it->second.latest = std::move(record);
    return false;
  }
  if (it != entries_.end()) {
    write_summary(it->second, write);  // the old window ended: its count first
    it->second.window_end = now + window_;
  } else {
    if (entries_.size() >= max_keys_) flush(write);
    entries_.emplace(std::move(key), Entry{now + window_, 0, LogRecord{}});
  }
  write(std::move(record));
  return true;
}

std::optional<DnsRefusalLog::Clock::time_point> DnsRefusalLog::sweep(Clock::time_point now, const Write& write) {
  std::optional<Clock::time_point> next;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.window_end <= now) {
      write_summary(it->second, write);
      it = entries_.erase(it);
      continue;
    }
    if (!next || it->second.window_end < *next) next = it->second.window_end;
    ++it;
  }
  return next;
}

void DnsRefusalLog::flush(const Write& write) {
  for (auto& [key, entry] : entries_) write_summary(entry, write);
  entries_.clear();
}

}  // namespace awf::proxy
