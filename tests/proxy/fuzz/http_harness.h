// The forward proxy's HTTP/1 parsers under arbitrary input, shared by the
// libFuzzer targets (http_head, chunked, authority) and the corpus replay in
// proxy_unit_tests. Each check_*() returns "" when every invariant held,
// else a sentence saying which broke. Only the parsers' own sources are
// needed (http_head.cc, chunked_decoder.cc, host_port.cc, policy's host and
// ruleset code for the authority checks), so the fuzz targets compile just
// those.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/host_port.h"
#include "awf/upstream_proxy.h"
#include "awf/policy/host.h"
#include "awf/policy/ruleset.h"
#include "awf/proxy/chunked_decoder.h"
#include "awf/proxy/http_head.h"

namespace awf::proxy::fuzz {

// Small enough that a fuzzer input (-max_len=20000) can overrun it.
inline constexpr std::size_t kHeadLimit = 8192;

inline bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

inline std::string same_result(const char* what, const ParseResult& a, const ParseResult& b) {
  if (a.status != b.status || a.error != b.error) {
    return std::string(what) + ": " + to_string(a.error) + "/" + std::to_string(static_cast<int>(a.status)) +
           " vs " + to_string(b.error) + "/" + std::to_string(static_cast<int>(b.status));
  }
  return "";
}

inline bool same_fields(const MessageHead& a, const MessageHead& b) {
  if (a.version_minor != b.version_minor || a.head_size != b.head_size || a.headers.size() != b.headers.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) return false;
  }
  return a.connection_tokens == b.connection_tokens;
}

// What every parsed head must look like, whoever sent it.
inline std::string check_head_shape(const MessageHead& h, std::size_t input_size) {
  if (h.head_size > input_size || h.head_size > kHeadLimit) return "head_size beyond the input or the limit";
  if (h.version_minor != 0 && h.version_minor != 1) return "version other than 1.0/1.1";
  for (const auto& f : h.headers) {
    if (f.name.empty()) return "empty header name";
    for (unsigned char c : f.name) {
      if (!is_token_char(c)) return "header name with a non-token byte";
    }
    if (!f.value.empty() && (f.value.front() == ' ' || f.value.front() == '\t' || f.value.back() == ' ' ||
                             f.value.back() == '\t')) {
      return "header value not trimmed";
    }
    for (unsigned char c : f.value) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) return "header value with a control byte";
    }
  }
  if (h.find("content-length") && h.find("transfer-encoding")) return "Content-Length with Transfer-Encoding";
  for (const char* framing : {"content-length", "transfer-encoding"}) {
    if (h.connection_lists(framing)) return std::string("Connection lists ") + framing;
  }
  return "";
}

// Parses `bytes` whole, then again fed in pieces of `step` bytes with one
// cursor (as the session does when a head arrives in several reads).
template <typename Head, typename Parse>
std::string check_incremental(std::string_view bytes, Parse parse, const ParseResult& whole, const Head& head) {
  const std::size_t step = 1 + bytes.size() % 13;
  Head piecewise;
  HeadCursor cursor;
  ParseResult r;
  for (std::size_t have = std::min(step, bytes.size());; have = std::min(have + step, bytes.size())) {
    r = parse(bytes.substr(0, have), kHeadLimit, piecewise, cursor);
    if (r.status != ParseStatus::need_more || have == bytes.size()) break;
  }
  if (auto e = same_result("piecewise parse differs from whole", r, whole); !e.empty()) return e;
  if (whole.status == ParseStatus::done && !same_fields(head, piecewise)) return "piecewise head differs from whole";
  if (cursor.bytes_examined > bytes.size() + 4) return "the cursor looked at bytes twice";
  // A head cut one byte short only asks for more.
  if (whole.status == ParseStatus::done && head.head_size > 0) {
    Head cut;
    const ParseResult c = parse(bytes.substr(0, head.head_size - 1), kHeadLimit, cut);
    if (c.status != ParseStatus::need_more) return "a head cut one byte short did not ask for more";
  }
  return "";
}

inline bool same_target(const Target& a, const Target& b) {
  return a.host == b.host && a.port == b.port && a.path == b.path;
}

inline std::string check_request_head(std::string_view bytes) {
  RequestHead head;
  const ParseResult whole = parse_request_head(bytes, kHeadLimit, head);
  const auto parse = [](std::string_view b, std::size_t max, RequestHead& out, auto&&... cursor) {
    return parse_request_head(b, max, out, cursor...);
  };
  if (auto e = check_incremental<RequestHead>(bytes, parse, whole, head); !e.empty()) return "request: " + e;
  if (whole.status != ParseStatus::done) return "";
  if (auto e = check_head_shape(head, bytes.size()); !e.empty()) return "request: " + e;
  if (head.method.empty() || head.target.empty()) return "request: empty method or target";
  for (unsigned char c : head.method) {
    if (!is_token_char(c)) return "request: method with a non-token byte";
  }
  for (unsigned char c : head.target) {
    if (c <= 0x20 || c >= 0x7f) return "request: target with a space, control or non-ASCII byte";
  }
  if (head.body == BodyKind::until_close) return "request: read until close";
  if (head.body == BodyKind::chunked && head.version_minor == 0) return "request: chunked HTTP/1.0";
  if (head.body == BodyKind::length && head.content_length == 0) return "request: zero length body kind";

  if (head.method == "CONNECT") {
    if (auto t = parse_authority(head.target)) {
      const auto again = parse_authority(t->host + ":" + std::to_string(t->port));
      if (!again || again->host != t->host || again->port != t->port) {
        return "request: CONNECT authority does not round-trip";
      }
    }
  }
  const std::optional<Target> target = parse_absolute_http(head.target);
  if (!target) return "";
  // The absolute URL's host is a CONNECT authority's host too.
  const auto as_authority = parse_authority(target->host + ":" + std::to_string(target->port));
  if (!as_authority || as_authority->host != target->host || as_authority->port != target->port) {
    return "request: the URL's host:port is not an authority";
  }
  // What goes upstream must parse back to the same request (never a
  // different framing at the next hop), and rebuilding is a fixpoint.
  for (const bool absolute : {false, true}) {
    for (const bool upgrade : {false, true}) {
      const std::string sent = build_upstream_request(head, *target, upgrade, absolute);
      RequestHead back;
      const ParseResult r = parse_request_head(sent, sent.size() + 1, back);
      if (r.status != ParseStatus::done) return std::string("request: rebuilt head refused: ") + to_string(r.error);
      if (back.head_size != sent.size()) return "request: rebuilt head has trailing bytes";
      if (back.method != head.method || back.version_minor != head.version_minor || back.body != head.body ||
          back.content_length != head.content_length) {
        return "request: rebuilt head frames or names the request differently";
      }
      const std::optional<Target> back_target =
          absolute ? parse_absolute_http(back.target) : std::optional<Target>(Target{"", 0, back.target});
      if (!back_target) return "request: rebuilt absolute URL does not parse";
      if (absolute && !same_target(*back_target, *target)) return "request: rebuilt absolute URL names another target";
      if (!absolute && back.target != target->path) return "request: rebuilt origin-form path differs";
      const std::string* host = back.find("host");
      if (!host || *host != (target->port == 80 ? target->host : target->host + ":" + std::to_string(target->port))) {
        return "request: rebuilt Host does not name the target";
      }
      std::size_t hosts = 0;
      for (const auto& f : back.headers) hosts += iequals(f.name, "host") ? 1 : 0;
      if (hosts != 1) return "request: rebuilt head has more than one Host";
      for (const auto& f : back.headers) {
        if (f.name.size() >= 6 && iequals(std::string_view(f.name).substr(0, 6), "proxy-")) {
          return "request: a Proxy-* header went upstream";
        }
      }
      const std::string resent = build_upstream_request(back, *target, upgrade, absolute);
      if (resent != sent) return "request: rebuilding is not a fixpoint";
    }
  }
  return "";
}

inline std::string check_response_head(std::string_view bytes) {
  ResponseHead head;
  const ParseResult whole = parse_response_head(bytes, kHeadLimit, head);
  const auto parse = [](std::string_view b, std::size_t max, ResponseHead& out, auto&&... cursor) {
    return parse_response_head(b, max, out, cursor...);
  };
  if (auto e = check_incremental<ResponseHead>(bytes, parse, whole, head); !e.empty()) return "response: " + e;
  if (whole.status != ParseStatus::done) return "";
  if (auto e = check_head_shape(head, bytes.size()); !e.empty()) return "response: " + e;
  if (head.status < 100 || head.status > 999) return "response: status out of range";
  if (head.chunked && head.content_length) return "response: chunked with a length";
  for (const bool close : {false, true}) {
    for (const bool upgrade : {false, true}) {
      const std::string sent = build_client_response(head, close, upgrade);
      ResponseHead back;
      const ParseResult r = parse_response_head(sent, sent.size() + 1, back);
      if (r.status != ParseStatus::done) return std::string("response: rebuilt head refused: ") + to_string(r.error);
      if (back.head_size != sent.size()) return "response: rebuilt head has trailing bytes";
      if (back.status != head.status || back.reason != head.reason || back.chunked != head.chunked ||
          back.content_length != head.content_length) {
        return "response: rebuilt head frames the response differently";
      }
      for (const char* method : {"GET", "HEAD", "CONNECT"}) {
        if (back.body_kind(method) != head.body_kind(method)) return "response: rebuilt body kind differs";
      }
      if (build_client_response(back, close, upgrade) != sent) return "response: rebuilding is not a fixpoint";
    }
  }
  return "";
}

// Both parsers over the same bytes: one of them is usually refused at once.
inline std::string check_http_head(std::string_view bytes) {
  if (auto e = check_request_head(bytes); !e.empty()) return e;
  return check_response_head(bytes);
}

// The outcome a named seed of the http_head corpus states: "request" or
// "response" (that parser finishes), else the request parser's error name.
inline std::string http_head_outcome(std::string_view bytes) {
  RequestHead req;
  const ParseResult r = parse_request_head(bytes, kHeadLimit, req);
  if (r.status == ParseStatus::done) return "request";
  ResponseHead resp;
  if (parse_response_head(bytes, kHeadLimit, resp).status == ParseStatus::done) return "response";
  if (r.status == ParseStatus::need_more) return "need_more";
  return to_string(r.error);
}

// ---- chunked bodies -------------------------------------------------------

struct ChunkedOutcome {
  std::size_t used = 0;
  bool done = false;
  bool failed = false;
  std::string data;    // the decoder's only
  std::string broken;  // a feed() that broke its contract
};

inline ChunkedOutcome scan_chunked(std::string_view wire, std::size_t step) {
  ChunkedScanner s;
  ChunkedOutcome out;
  for (std::size_t at = 0; at < wire.size() && !s.done() && !s.failed();) {
    const std::size_t n = std::min(step, wire.size() - at);
    const std::size_t used = s.feed(wire.data() + at, n);
    if (used > n) return {0, false, true, "", "scanner used more than it was given"};
    out.used += used;
    at += used;
    if (used < n && !s.done() && !s.failed()) return {0, false, true, "", "scanner stopped short without a verdict"};
  }
  out.done = s.done();
  out.failed = s.failed();
  return out;
}

inline ChunkedOutcome decode_chunked(std::string_view wire, std::size_t step, std::size_t limit) {
  ChunkedDecoder d;
  ChunkedOutcome out;
  for (std::size_t at = 0; at < wire.size() && !d.done() && !d.failed();) {
    const std::size_t n = std::min(step, wire.size() - at);
    const std::size_t used = d.feed(wire.substr(at, n), out.data, limit);
    if (used > n) return {0, false, true, "", "decoder used more than it was given"};
    out.used += used;
    at += used;
    if (used < n && !d.done() && !d.failed()) return {0, false, true, "", "decoder stopped short without a verdict"};
  }
  out.done = d.done();
  out.failed = d.failed();
  return out;
}

inline std::string to_hex(std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), digits[n % 16]);
    n /= 16;
  } while (n != 0);
  return out;
}

// The forward proxy's scanner (passes bodies through) and the API proxy's
// decoder (buffers them) must frame every body alike: same verdict, same end.
// Each must give the same answer however the bytes are split, and the
// decoder's data must survive being chunked again.
inline std::string check_chunked(std::string_view wire) {
  const std::size_t step = 1 + wire.size() % 7;
  const ChunkedOutcome scanned = scan_chunked(wire, wire.size() + 1);
  const ChunkedOutcome scanned_split = scan_chunked(wire, step);
  if (!scanned.broken.empty() || !scanned_split.broken.empty()) return scanned.broken + scanned_split.broken;
  if (scanned.used != scanned_split.used || scanned.done != scanned_split.done ||
      scanned.failed != scanned_split.failed) {
    return "scanner: split input gives another verdict";
  }
  constexpr std::size_t kLimit = 1 << 20;
  const ChunkedOutcome decoded = decode_chunked(wire, wire.size() + 1, kLimit);
  const ChunkedOutcome decoded_split = decode_chunked(wire, step, kLimit);
  if (!decoded.broken.empty() || !decoded_split.broken.empty()) return decoded.broken + decoded_split.broken;
  if (decoded.used != decoded_split.used || decoded.done != decoded_split.done ||
      decoded.failed != decoded_split.failed || decoded.data != decoded_split.data) {
    return "decoder: split input gives another verdict or other data";
  }
  if (decoded.done != scanned.done || decoded.failed != scanned.failed) {
    return "scanner and decoder disagree on whether the body is well framed";
  }
  if (decoded.done && decoded.used != scanned.used) return "scanner and decoder end the body at different bytes";
  if (decoded.data.size() > kLimit + 1) return "decoder kept more than its limit plus one";
  if (!decoded.done) return "";
  // The decoded data, chunked again in pieces, decodes to itself.
  std::string again;
  const std::string& data = decoded.data;
  for (std::size_t at = 0; at < data.size(); at += step * 3) {
    const std::size_t n = std::min(step * 3, data.size() - at);
    again += to_hex(n) + "\r\n" + data.substr(at, n) + "\r\n";
  }
  again += "0\r\n\r\n";
  const ChunkedOutcome redecoded = decode_chunked(again, again.size(), kLimit);
  if (!redecoded.done || redecoded.used != again.size() || redecoded.data != data) {
    return "decoder: re-chunked data does not decode to itself";
  }
  const ChunkedOutcome rescanned = scan_chunked(again, step);
  if (!rescanned.done || rescanned.used != again.size()) return "scanner: re-chunked data is not one whole body";
  return "";
}

// ---- CONNECT authorities and hosts ----------------------------------------

// What the proxy routes to and logs (http_session.cc, socks_session.cc).
inline std::string canonical_host(std::string_view host) {
  if (auto ip = policy::parse_ip_literal(host)) return ip->canonical;
  return policy::normalise_host(host);
}

// One small policy covering names, a pattern, a scope and IPv4 literals, so
// the decision on what a client wrote can be compared with the decision on
// the canonical host the proxy routes to.
inline const policy::Ruleset& authority_policy() {
  static const std::shared_ptr<const policy::Ruleset> rs = [] {
    policy::PolicySpec spec;
    spec.allow = {"example.com", "*.allowed.test", "http://plain.test", "api-*.svc.test", "10.0.0.1", "127.0.0.1"};
    spec.block = {"bad.example.com", "10.0.0.2"};
    return policy::Ruleset::compile(spec).value();
  }();
  return *rs;
}

inline std::string check_authority(std::string_view text) {
  // split_host_port: the pieces are the text.
  const HostPort split = split_host_port(text);
  if (!split.bracketed) {
    const std::string joined = std::string(split.host) +
                               (text.find(':') == std::string_view::npos ? "" : ":" + std::string(split.port_text));
    if (joined != text) return "split_host_port: host and port are not the text";
  } else if (split.fault == HostPort::Fault::none) {
    if ("[" + std::string(split.host) + "]" != split.host_as_written) return "split_host_port: brackets lost";
    if (text != split.host_as_written && text != std::string(split.host_as_written) + ":" + std::string(split.port_text)) {
      return "split_host_port: bracketed host and port are not the text";
    }
  }
  if (auto port = parse_port(text)) {
    if (parse_port(std::to_string(*port)) != port) return "parse_port does not round-trip";
  }

  std::vector<Target> targets;
  if (auto t = parse_authority(text)) {
    if (t->port == 0 || t->host.empty()) return "parse_authority: empty host or port 0";
    const auto again = parse_authority(t->host + ":" + std::to_string(t->port));
    if (!again || again->host != t->host || again->port != t->port) return "parse_authority does not round-trip";
    targets.push_back(*t);
  }
  if (auto t = parse_absolute_http(text)) {
    if (t->port == 0 || t->host.empty() || t->path.empty() || t->path.front() != '/') {
      return "parse_absolute_http: empty host, port 0 or a path not starting with /";
    }
    const auto again = parse_absolute_http("http://" + t->host + ":" + std::to_string(t->port) + t->path);
    if (!again || !same_target(*again, *t)) return "parse_absolute_http does not round-trip";
    targets.push_back(*t);
  }
  // --upstream-proxy and no_proxy, the other host:port text a user gives.
  if (auto parent = parse_upstream_proxy(text)) {
    if (parent->host.empty() || parent->port == 0) return "parse_upstream_proxy: empty host or port 0";
    auto again = parse_upstream_proxy(parent->url());
    if (!again || !(*again == *parent)) return "parse_upstream_proxy does not round-trip " + parent->url();
  }
  const BypassList bypass = parse_no_proxy(text);
  for (const std::string& d : bypass.domains) {
    if (d.empty() || d.front() == '.' || d.back() == '.') return "no_proxy domain empty or with an edge dot: '" + d + "'";
    if (policy::normalise_host(d) != d) return "no_proxy domain not canonical: '" + d + "'";
    if (!bypasses(bypass.domains, d) || !bypasses(bypass.domains, "x." + d)) return "no_proxy domain does not bypass";
  }
  if (bypasses(bypass.domains, "") || bypasses(bypass.domains, ".")) return "no_proxy bypasses an empty host";

  // The raw text as a host too (SNI, SOCKS names and Host headers reach
  // policy without an authority around them).
  targets.push_back(Target{std::string(text), 443, "/"});

  const policy::Ruleset& rs = authority_policy();
  for (const Target& t : targets) {
    const std::string canonical = canonical_host(t.host);
    // An IP literal's canonical text is a literal for the same address.
    if (const auto ip = policy::parse_ip_literal(t.host)) {
      const auto back = policy::parse_ip_literal(ip->canonical);
      if (!back || back->bytes != ip->bytes || back->is_v6 != ip->is_v6 || back->canonical != ip->canonical ||
          back->embedded_v4 != ip->embedded_v4) {
        return "parse_ip_literal: the canonical form is another address";
      }
      if (!policy::is_ip_like(t.host)) return "an IP literal that is not IP-like";
    }
    for (const bool connect : {true, false}) {
      const policy::Decision as_sent = rs.decide({t.host, t.port, connect});
      const policy::Decision routed = rs.decide({canonical, t.port, connect});
      // The proxy decides on what the client sent and routes, sends and logs
      // the canonical host: what is allowed must stay allowed by the same
      // rule. (The other way round only where the sent host is a name at
      // all: `example.com..` is refused as invalid, its canonical form
      // `example.com.` is not, and the proxy never routes it.)
      if (as_sent.allowed && (!routed.allowed || as_sent.rule != routed.rule)) {
        return "the canonical host '" + canonical + "' is decided differently from '" + t.host + "'";
      }
      // Whether a host is a name at all does not depend on the port (which
      // is checked first).
      // Nor is a malformed address (`999.1.1.1`, `1::2::3`, `x[.1.2..`):
      // always refused.
      const policy::Reason reason = rs.decide({t.host, 443, connect}).reason;
      if (reason == policy::Reason::invalid_host) continue;
      if (reason == policy::Reason::ip_literal && !policy::parse_ip_literal(t.host)) continue;
      if (as_sent.allowed != routed.allowed) {
        return "the canonical host '" + canonical + "' is decided differently from '" + t.host + "'";
      }
      // Normalising twice is normalising once, for every host that is a
      // destination at all (`a..` loses one dot each time, and is refused).
      if (canonical_host(canonical) != canonical) return "canonical_host is not idempotent for '" + t.host + "'";
    }
  }
  return "";
}

}  // namespace awf::proxy::fuzz
