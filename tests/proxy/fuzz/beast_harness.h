// Our HTTP/1 head parsers against Boost.Beast's (http::request_parser and
// response_parser, header only), shared by the http_head_beast fuzz target
// and the corpus replay in proxy_unit_tests. Where both finish they must
// agree on every field, the framing and the head's size; where one refuses
// what the other takes, the input must fall in one of the accepted
// differences below (docs/fuzzing.md explains each). Where neither finishes
// (one refuses, the other waits for more, or both refuse) nothing is let
// through, and nothing is compared. check_beast() returns "" or what
// disagreed.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/proxy/http_head.h"

namespace awf::proxy::fuzz {

namespace beast_http = boost::beast::http;

// The ways the two parsers may disagree, each on purpose. `none`: they
// agree (or both refuse).
enum class BeastDifference : std::uint8_t {
  none,
  // We refuse, Beast takes: we are stricter by design (docs/fuzzing.md).
  we_refuse_smuggling_shape,   // CL+TE, repeated CL, TE other than a final chunked, Connection naming them
  we_refuse_obs_fold,          // a header line continued with SP/HTAB
  we_refuse_bare_lf,           // LF without CR ends a line
  we_refuse_obs_text_target,   // a request target byte >= 0x80 (RFC 9112 allows none)
  we_refuse_version,           // HTTP/1.x other than 1.0/1.1 (Beast: any single digits 1.0-1.1 too)
  we_refuse_header_value,      // a control byte Beast lets through in a value or reason
  // We take, Beast refuses.
  we_skip_empty_lines,         // RFC 9112 §2.2: up to kMaxLeadingEmptyLines CRLFs before the start line
  we_take_short_status_line,   // `HTTP/1.1 200` without the space before an empty reason
  we_take_identical_lengths,   // a response's `Content-Length: 5, 5` (RFC 9110 §8.6)
  we_take_response_codings,    // a response's `Transfer-Encoding: gzip` (read until close, RFC 9112 §6.3)
  we_refuse_status_below_100,  // status 000-099 (Beast takes them)
  // Size limits counted differently near the limit.
  head_limit,
};
inline const char* to_string(BeastDifference d);

struct BeastOutcome {
  bool done = false;
  bool need_more = false;
  boost::system::error_code ec;
  std::size_t used = 0;
  std::string method, target, reason;
  unsigned version = 0;
  int status = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
};

template <bool isRequest>
BeastOutcome beast_parse(std::string_view bytes, std::size_t limit) {
  beast_http::parser<isRequest, beast_http::empty_body> p;
  p.header_limit(static_cast<std::uint32_t>(limit));
  p.body_limit((std::numeric_limits<std::uint64_t>::max)());
  p.eager(false);
  BeastOutcome out;
  out.used = p.put(boost::asio::const_buffer(bytes.data(), bytes.size()), out.ec);
  if (out.ec == beast_http::error::need_more) {
    out.need_more = true;
    return out;
  }
  if (out.ec || !p.is_header_done()) return out;
  out.done = true;
  const auto& m = p.get();
  if constexpr (isRequest) {
    out.method = std::string(m.method_string());
    out.target = std::string(m.target());
  } else {
    out.status = static_cast<int>(m.result_int());
    out.reason = std::string(m.reason());
  }
  out.version = m.version();
  for (const auto& f : m) out.fields.emplace_back(std::string(f.name_string()), std::string(f.value()));
  if (const auto length = p.content_length()) out.content_length = *length;
  out.chunked = p.chunked();
  return out;
}

inline std::string describe(const BeastOutcome& b) {
  if (b.done) return "done";
  if (b.need_more) return "need_more";
  return "error " + b.ec.message();
}

inline std::string describe(const ParseResult& r) {
  if (r.status == ParseStatus::done) return "done";
  if (r.status == ParseStatus::need_more) return "need_more";
  return std::string("error ") + to_string(r.error);
}

// The head's lines (CRLF or bare LF endings): leading empty lines, then
// lines up to the first empty one.
inline std::vector<std::string_view> head_lines(std::string_view bytes) {
  std::vector<std::string_view> lines;
  bool started = false;
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    std::string_view line = bytes.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() && started) break;
    started = started || !line.empty();
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    bytes.remove_prefix(nl + 1);
  }
  return lines;
}

inline bool has_control_byte(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

// Why our verdict and Beast's differ, or `none` when that is not one of the
// accepted differences (the caller reports it).
template <bool isRequest>
BeastDifference classify(std::string_view bytes, const ParseResult& ours, const BeastOutcome& theirs) {
  using D = BeastDifference;
  if (ours.error == HeadError::too_large || theirs.ec == beast_http::error::header_limit) return D::head_limit;
  std::vector<std::string_view> lines = head_lines(bytes);
  // Leading empty lines (we skip up to kMaxLeadingEmptyLines of them).
  std::size_t empty = 0;
  while (empty < lines.size() && lines[empty].empty()) ++empty;
  if (ours.status == ParseStatus::error) {
    switch (ours.error) {
      case HeadError::length_and_chunked:
      case HeadError::duplicate_length:
      case HeadError::bad_transfer_encoding:
      case HeadError::bad_length:
      case HeadError::connection_lists_content_length:
      case HeadError::connection_lists_transfer_encoding:
      case HeadError::connection_lists_host:
        return D::we_refuse_smuggling_shape;
      case HeadError::obs_fold: return D::we_refuse_obs_fold;
      case HeadError::bare_lf: return D::we_refuse_bare_lf;
      case HeadError::bad_version: return D::we_refuse_version;
      default: break;
    }
    const std::string_view start = empty < lines.size() ? lines[empty] : std::string_view();
    if (ours.error == HeadError::bad_start_line) {
      if constexpr (isRequest) {
        const auto sp1 = start.find(' ');
        const auto sp2 = start.find(' ', sp1 + 1);
        if (sp1 != std::string_view::npos && sp2 != std::string_view::npos) {
          for (unsigned char c : start.substr(sp1 + 1, sp2 - sp1 - 1)) {
            if (c >= 0x7f) return D::we_refuse_obs_text_target;
          }
        }
      } else {
        if (start.size() >= 12 && start.substr(9, 3) < "100") return D::we_refuse_status_below_100;
        if (start.size() > 13 && has_control_byte(start.substr(13))) return D::we_refuse_header_value;
      }
    }
    if (ours.error == HeadError::bad_header) {
      for (std::size_t i = 1; i < lines.size(); ++i) {
        const auto colon = lines[i].find(':');
        if (colon != std::string_view::npos && has_control_byte(lines[i].substr(colon + 1))) {
          return D::we_refuse_header_value;
        }
      }
    }
    return D::none;
  }
  if (ours.status == ParseStatus::done) {
    if (empty > 0 && empty <= kMaxLeadingEmptyLines) return D::we_skip_empty_lines;
    const std::string_view start = empty < lines.size() ? lines[empty] : std::string_view();
    if (!isRequest && start.size() == 12) return D::we_take_short_status_line;
    if (!isRequest) {
      for (std::size_t i = 1; i < lines.size(); ++i) {
        const auto colon = lines[i].find(':');
        const std::string_view name = lines[i].substr(0, colon);
        if (iequals(name, "content-length") && lines[i].find(',') != std::string_view::npos) {
          return D::we_take_identical_lengths;
        }
        if (iequals(name, "transfer-encoding")) return D::we_take_response_codings;
      }
    }
  }
  return D::none;
}

inline const char* to_string(BeastDifference d) {
  switch (d) {
    case BeastDifference::none: return "none";
    case BeastDifference::we_refuse_smuggling_shape: return "we_refuse_smuggling_shape";
    case BeastDifference::we_refuse_obs_fold: return "we_refuse_obs_fold";
    case BeastDifference::we_refuse_bare_lf: return "we_refuse_bare_lf";
    case BeastDifference::we_refuse_obs_text_target: return "we_refuse_obs_text_target";
    case BeastDifference::we_refuse_version: return "we_refuse_version";
    case BeastDifference::we_refuse_header_value: return "we_refuse_header_value";
    case BeastDifference::we_skip_empty_lines: return "we_skip_empty_lines";
    case BeastDifference::we_take_short_status_line: return "we_take_short_status_line";
    case BeastDifference::we_take_identical_lengths: return "we_take_identical_lengths";
    case BeastDifference::we_take_response_codings: return "we_take_response_codings";
    case BeastDifference::we_refuse_status_below_100: return "we_refuse_status_below_100";
    case BeastDifference::head_limit: return "head_limit";
  }
  return "unknown";
}

inline std::string compare_heads(const MessageHead& ours, std::size_t head_size, const BeastOutcome& theirs) {
  if (theirs.version != 10u + static_cast<unsigned>(ours.version_minor)) return "version";
  if (theirs.used != head_size) {
    return "head size " + std::to_string(head_size) + " vs " + std::to_string(theirs.used);
  }
  if (theirs.fields.size() != ours.headers.size()) return "number of fields";
  // Beast's container keeps fields of one name together (a repeated name is
  // inserted after its last occurrence), so both lists are compared in name
  // order, each name's fields in the order they came.
  std::vector<std::pair<std::string, std::string>> mine;
  for (const auto& h : ours.headers) mine.emplace_back(h.name, h.value);
  std::vector<std::pair<std::string, std::string>> theirs_sorted = theirs.fields;
  const auto by_name = [](const auto& a, const auto& b) { return ascii_lower(a.first) < ascii_lower(b.first); };
  std::stable_sort(mine.begin(), mine.end(), by_name);
  std::stable_sort(theirs_sorted.begin(), theirs_sorted.end(), by_name);
  for (std::size_t i = 0; i < mine.size(); ++i) {
    if (theirs_sorted[i].first != mine[i].first) return "field name " + std::to_string(i);
    if (theirs_sorted[i].second != mine[i].second) return "field value " + std::to_string(i);
  }
  return "";
}

// Differences seen, by class: the fuzz target prints them at exit.
inline std::uint64_t beast_difference_counts[16];

inline std::string check_beast(std::string_view bytes) {
  constexpr std::size_t kLimit = 8192;
  std::string problem;
  {
    RequestHead ours;
    const ParseResult r = parse_request_head(bytes, kLimit, ours);
    const BeastOutcome b = beast_parse<true>(bytes, kLimit);
    const bool ours_done = r.status == ParseStatus::done;
    if (ours_done && b.done) {
      std::string d = compare_heads(ours, ours.head_size, b);
      if (d.empty() && (b.method != ours.method || b.target != ours.target)) d = "method or target";
      const bool ours_chunked = ours.body == BodyKind::chunked;
      if (d.empty() && b.chunked != ours_chunked) d = "chunked";
      if (d.empty() && !ours_chunked && b.content_length.value_or(0) != ours.content_length) d = "content length";
      if (!d.empty()) return "request: both parsed, " + d + " differs";
    } else if (ours_done != b.done) {
      const BeastDifference why = classify<true>(bytes, r, b);
      if (why == BeastDifference::none) return "request: ours " + describe(r) + ", Beast " + describe(b);
      ++beast_difference_counts[static_cast<int>(why)];
    }
  }
  {
    ResponseHead ours;
    const ParseResult r = parse_response_head(bytes, kLimit, ours);
    const BeastOutcome b = beast_parse<false>(bytes, kLimit);
    const bool ours_done = r.status == ParseStatus::done;
    if (ours_done && b.done) {
      std::string d = compare_heads(ours, ours.head_size, b);
      // Beast's reason() gives the standard phrase when the line has none.
      if (d.empty() && (b.status != ours.status || (!ours.reason.empty() && b.reason != ours.reason))) {
        d = "status or reason";
      }
      if (d.empty() && b.chunked != ours.chunked) d = "chunked";
      if (d.empty() && !ours.chunked && b.content_length != ours.content_length) d = "content length";
      if (!d.empty()) return "response: both parsed, " + d + " differs";
    } else if (ours_done != b.done) {
      const BeastDifference why = classify<false>(bytes, r, b);
      if (why == BeastDifference::none) return "response: ours " + describe(r) + ", Beast " + describe(b);
      ++beast_difference_counts[static_cast<int>(why)];
    }
  }
  return problem;
}

}  // namespace awf::proxy::fuzz
