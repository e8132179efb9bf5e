// Strict HTTP/1.x head parsing, chunked framing and the rewriting of heads
// between client and upstream (RFC 9110 §7.6.1 hop-by-hop, RFC 9112 framing).
#include "awf/proxy/http_head.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "awf/host_port.h"

namespace awf::proxy {

const char* to_string(HeadError error) {
  switch (error) {
    case HeadError::none: return "none";
    case HeadError::too_large: return "header_too_large";
    case HeadError::bare_lf: return "bare_lf";
    case HeadError::obs_fold: return "obs_fold";
    case HeadError::bad_start_line: return "bad_start_line";
    case HeadError::bad_version: return "bad_version";
    case HeadError::bad_header: return "bad_header";
    case HeadError::length_and_chunked: return "content_length_with_transfer_encoding";
    case HeadError::duplicate_length: return "duplicate_content_length";
    case HeadError::bad_length: return "bad_content_length";
    case HeadError::bad_transfer_encoding: return "bad_transfer_encoding";
    case HeadError::too_many_empty_lines: return "too_many_empty_lines";
    case HeadError::connection_lists_content_length: return "connection_lists_content_length";
    case HeadError::connection_lists_transfer_encoding: return "connection_lists_transfer_encoding";
    case HeadError::connection_lists_host: return "connection_lists_host";
  }
  return "unknown";
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

namespace {

// RFC 9110 tchar, as a table: the head parser asks once per byte of every
// method and field name.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 'a' + 'A'] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool is_tchar(unsigned char c) { return kTchar[c]; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(token) for each comma-separated, trimmed, non-empty element.
template <typename F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim_ows(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Finds the end of the head, resuming where the cursor stopped. Refuses a
// bare LF anywhere before it. Only looks back at bytes already in `bytes`
// (the CRLFCRLF test), so resuming after more bytes were appended is exact.
ParseResult find_head_end(std::string_view bytes, std::size_t max_bytes, HeadCursor& c, std::size_t& end) {
  std::size_t i = c.scanned;
  const std::size_t first = i;
  auto stop = [&](ParseResult r) {
    c.bytes_examined += i - first;
    c.scanned = i;
    return r;
  };
  // RFC 9112 §2.2: ignore a few empty lines before the start line.
  while (!c.past_empty_lines) {
    if (i >= bytes.size()) return stop({ParseStatus::need_more, HeadError::none});
    if (bytes[i] != '\r') break;
    if (i + 1 >= bytes.size()) return stop({ParseStatus::need_more, HeadError::none});  // CR, LF to come
    if (bytes[i + 1] != '\n') break;  // a CR the start line will refuse
    if (++c.empty_lines > kMaxLeadingEmptyLines) return stop({ParseStatus::error, HeadError::too_many_empty_lines});
    i += 2;
  }
  if (!c.past_empty_lines) {
    c.past_empty_lines = true;
    c.start = i;
  }
  const std::size_t limit = std::min(bytes.size(), max_bytes);
  for (; i < limit; ++i) {
    if (bytes[i] != '\n') continue;
    if (i == 0 || bytes[i - 1] != '\r') {
      ++i;
      return stop({ParseStatus::error, HeadError::bare_lf});
    }
    if (i >= c.start + 3 && bytes[i - 2] == '\n' && bytes[i - 3] == '\r') {
      end = ++i;
      return stop({ParseStatus::done, HeadError::none});
    }
  }
  if (bytes.size() >= max_bytes) return stop({ParseStatus::error, HeadError::too_large});
  return stop({ParseStatus::need_more, HeadError::none});
}

// Lower-case ASCII order: sorted connection_tokens are searched with
// mixed-case header names, without lower-casing each name.
bool iless(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return static_cast<unsigned char>(x) < static_cast<unsigned char>(y);
  }
  return a.size() < b.size();
}

// One pass over the headers: every Connection token, lower case, sorted,
// each once (RFC 9110 §7.6.1: the names of the hop-by-hop headers).
void collect_connection_tokens(MessageHead& head) {
  head.connection_tokens.clear();
  for (const auto& h : head.headers) {
    if (!iequals(h.name, "connection")) continue;
    for_each_token(h.value, [&](std::string_view item) { head.connection_tokens.push_back(ascii_lower(item)); });
  }
  auto& t = head.connection_tokens;
  std::sort(t.begin(), t.end());
  t.erase(std::unique(t.begin(), t.end()), t.end());
}

// A Connection that names a header the proxy frames or routes the message
// by. Dropping that header, as Connection asks, while forwarding the body it
// framed would let the next hop read the body as further requests that the
// proxy never parsed, decided or logged (request smuggling). Squid forwards
// only the message it framed; we refuse. Host only matters in requests.
// Other tokens are only dropped: Upgrade (read for the WebSocket hand-off
// before the head is rebuilt), Keep-Alive, TE, Trailer and Proxy-* are
// hop-by-hop anyway, and dropping an end-to-end header (Cookie, say) does
// not move where a message ends.
HeadError check_connection_tokens(const MessageHead& head, bool is_request) {
  if (head.connection_lists("content-length")) return HeadError::connection_lists_content_length;
  if (head.connection_lists("transfer-encoding")) return HeadError::connection_lists_transfer_encoding;
  if (is_request && head.connection_lists("host")) return HeadError::connection_lists_host;
  return HeadError::none;
}

// Parses the header lines in `block` (each ending CRLF, final empty line excluded).
HeadError parse_fields(std::string_view block, std::vector<HeaderField>& out) {
  while (!block.empty()) {
    auto eol = block.find("\r\n");
    if (eol == std::string_view::npos) return HeadError::bad_header;
    std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol + 2);
    if (line.empty()) return HeadError::bad_header;
    if (line.front() == ' ' || line.front() == '\t') return HeadError::obs_fold;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return HeadError::bad_header;
    std::string_view name = line.substr(0, colon);
    for (unsigned char c : name) {
      if (!is_tchar(c)) return HeadError::bad_header;  // also refuses "Name :"
    }
    std::string_view value = trim_ows(line.substr(colon + 1));
    for (unsigned char c : value) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) return HeadError::bad_header;
    }
    out.push_back({std::string(name), std::string(value)});
  }
  return HeadError::none;
}

bool parse_version(std::string_view v, int& minor) {
  if (v == "HTTP/1.1") { minor = 1; return true; }
  if (v == "HTTP/1.0") { minor = 0; return true; }
  return false;
}

bool parse_decimal(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{};
}

// Content-Length / Transfer-Encoding of one message. `strict` refuses any
// duplicate length (requests); responses may repeat an identical value.
struct Framing {
  std::optional<std::uint64_t> length;
  bool has_te = false;
  bool chunked = false;
};

HeadError read_framing(const std::vector<HeaderField>& headers, bool strict, Framing& framing) {
  std::optional<std::uint64_t>& length = framing.length;
  bool& has_te = framing.has_te;
  bool& chunked = framing.chunked;
  for (const auto& h : headers) {
    if (iequals(h.name, "content-length")) {
      // Content-Length = 1*DIGIT (RFC 9110 §8.6), at most a list of equal
      // ones in a response: an empty element (`,,5`, `5,`) is no length. The
      // header is passed on as written, and a next hop that reads `,,5` as
      // 0 would take the body for the next request.
      for (std::string_view rest = h.value;;) {
        const auto comma = rest.find(',');
        if (trim_ows(rest.substr(0, comma)).empty()) return HeadError::bad_length;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
      int count = 0;
      bool bad_number = false, duplicate = false;
      for_each_token(h.value, [&](std::string_view item) {
        ++count;
        std::uint64_t v = 0;
        if (!parse_decimal(item, v)) { bad_number = true; return; }
        if (length && (strict || *length != v)) duplicate = true;
        length = v;
      });
      if (count == 0 || bad_number) return HeadError::bad_length;
      if (duplicate || (strict && count > 1)) return HeadError::duplicate_length;
    } else if (iequals(h.name, "transfer-encoding")) {
      has_te = true;
      bool bad = false;
      for_each_token(h.value, [&](std::string_view item) {
        if (chunked) bad = true;  // chunked must be the last coding, once
        if (iequals(item, "chunked")) chunked = true;
        else if (strict) bad = true;  // we refuse request codings other than chunked
      });
      if (bad) return HeadError::bad_transfer_encoding;
    }
  }
  return HeadError::none;
}

// The header section after the start line, shared by requests and responses:
// the fields, the Connection tokens and the framing headers. A message with
// both Content-Length and Transfer-Encoding is a smuggling shape: refused
// rather than guessed at, in either direction.
HeadError parse_header_section(std::string_view fields, bool is_request, MessageHead& out, Framing& framing) {
  out.headers.clear();
  if (HeadError e = parse_fields(fields, out.headers); e != HeadError::none) return e;
  collect_connection_tokens(out);
  if (HeadError e = check_connection_tokens(out, is_request); e != HeadError::none) return e;
  if (HeadError e = read_framing(out.headers, is_request, framing); e != HeadError::none) return e;
  if (framing.has_te && framing.length) return HeadError::length_and_chunked;
  return HeadError::none;
}

}  // namespace

const std::string* MessageHead::find(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

bool MessageHead::connection_lists(std::string_view token) const {
  auto it = std::lower_bound(connection_tokens.begin(), connection_tokens.end(), token,
                             [](const std::string& a, std::string_view b) { return iless(a, b); });
  return it != connection_tokens.end() && iequals(*it, token);
}

bool MessageHead::has_token(std::string_view name, std::string_view token) const {
  bool found = false;
  for (const auto& h : headers) {
    if (!iequals(h.name, name)) continue;
    for_each_token(h.value, [&](std::string_view item) {
      if (iequals(item, token)) found = true;
    });
  }
  return found;
}

ParseResult parse_request_head(std::string_view bytes, std::size_t max_bytes, RequestHead& out) {
  HeadCursor cursor;
  return parse_request_head(bytes, max_bytes, out, cursor);
}

ParseResult parse_request_head(std::string_view bytes, std::size_t max_bytes, RequestHead& out, HeadCursor& cursor) {
  std::size_t end = 0;
  ParseResult r = find_head_end(bytes, max_bytes, cursor, end);
  if (r.status != ParseStatus::done) return r;
  const std::size_t start = cursor.start;
  std::string_view head = bytes.substr(start, end - start - 2);  // keep the CRLF of the last field
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  // request-line = method SP request-target SP HTTP-version, single spaces.
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return {ParseStatus::error, HeadError::bad_start_line};
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return {ParseStatus::error, HeadError::bad_start_line};
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  for (unsigned char c : method) {
    if (!is_tchar(c)) return {ParseStatus::error, HeadError::bad_start_line};
  }
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) return {ParseStatus::error, HeadError::bad_start_line};
  }
  if (version.find(' ') != std::string_view::npos) return {ParseStatus::error, HeadError::bad_start_line};
  if (!parse_version(version, out.version_minor)) return {ParseStatus::error, HeadError::bad_version};
  out.method = std::string(method);
  out.target = std::string(target);
  Framing framing;
  if (HeadError e = parse_header_section(head.substr(eol + 2), true, out, framing); e != HeadError::none) {
    return {ParseStatus::error, e};
  }
  const auto& [length, has_te, chunked] = framing;
  if (has_te && (!chunked || out.version_minor == 0)) return {ParseStatus::error, HeadError::bad_transfer_encoding};
  out.body = chunked ? BodyKind::chunked : (length && *length > 0 ? BodyKind::length : BodyKind::none);
  out.content_length = length.value_or(0);
  out.head_size = end;
  return {ParseStatus::done, HeadError::none};
}

ParseResult parse_response_head(std::string_view bytes, std::size_t max_bytes, ResponseHead& out) {
  HeadCursor cursor;
  return parse_response_head(bytes, max_bytes, out, cursor);
}

ParseResult parse_response_head(std::string_view bytes, std::size_t max_bytes, ResponseHead& out,
                                HeadCursor& cursor) {
  std::size_t end = 0;
  ParseResult r = find_head_end(bytes, max_bytes, cursor, end);
  if (r.status != ParseStatus::done) return r;
  const std::size_t start = cursor.start;
  std::string_view head = bytes.substr(start, end - start - 2);
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  // status-line = HTTP-version SP 3DIGIT SP [reason]
  if (line.size() < 12 || line[8] != ' ') return {ParseStatus::error, HeadError::bad_start_line};
  if (!parse_version(line.substr(0, 8), out.version_minor)) return {ParseStatus::error, HeadError::bad_version};
  std::string_view code = line.substr(9, 3);
  if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return {ParseStatus::error, HeadError::bad_start_line};
  }
  if (line.size() > 12 && line[12] != ' ') return {ParseStatus::error, HeadError::bad_start_line};
  out.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  // RFC 9110 §15: a status code is three digits from 100. `050` is no
  // status: relayed, it would be rebuilt as `50`, a line no client parses.
  if (out.status < 100) return {ParseStatus::error, HeadError::bad_start_line};
  out.reason = line.size() > 13 ? std::string(line.substr(13)) : std::string();
  for (unsigned char c : out.reason) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return {ParseStatus::error, HeadError::bad_start_line};
  }
  Framing framing;
  if (HeadError e = parse_header_section(head.substr(eol + 2), false, out, framing); e != HeadError::none) {
    return {ParseStatus::error, e};
  }
  const auto& [length, has_te, chunked] = framing;
  out.chunked = chunked;
  out.content_length = has_te ? std::nullopt : length;
  if (has_te && !chunked) out.content_length.reset();  // read until close (RFC 9112 §6.3)
  out.head_size = end;
  return {ParseStatus::done, HeadError::none};
}

BodyKind ResponseHead::body_kind(std::string_view request_method) const {
  if (request_method == "HEAD") return BodyKind::none;
  if ((status >= 100 && status < 200) || status == 204 || status == 304) return BodyKind::none;
  if (request_method == "CONNECT" && status >= 200 && status < 300) return BodyKind::none;
  if (chunked) return BodyKind::chunked;
  if (content_length) return *content_length > 0 ? BodyKind::length : BodyKind::none;
  return BodyKind::until_close;
}

std::size_t ChunkedScanner::feed(const char* data, std::size_t n, std::string* body, std::size_t body_limit) {
  std::size_t i = 0;
  auto fail = [&] {
    state_ = State::failed;
    return i;
  };
  // A control byte other than HTAB: no extension or trailer carries one.
  auto is_ctl = [](char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; };
  while (i < n) {
    const char c = data[i];
    switch (state_) {
      case State::size: {
        int v = -1;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        if (v >= 0) {
          if (++digits_ > kMaxSizeDigits) return fail();
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(v);
          ++i;
          break;
        }
        if (digits_ == 0) return fail();
        // RFC 9112 §7.1.1: BWS, then `;` and an extension, or the line's end.
        if (c == '\r') state_ = State::size_lf;
        else if (c == ';') state_ = State::ext;
        else if (c == ' ' || c == '\t') state_ = State::size_ws;
        else return fail();
        ++i;
        break;
      }
      case State::size_ws:
        if (c == ' ' || c == '\t') {}
        else if (c == ';') state_ = State::ext;
        else if (c == '\r') state_ = State::size_lf;
        else return fail();
        ++i;
        break;
      case State::ext:
        if (c == '\r') state_ = State::size_lf;
        else if (is_ctl(c) || ++ext_bytes_ > kMaxExtensionBytes) return fail();
        ++i;
        break;
      case State::size_lf:
        if (c != '\n') return fail();
        ++i;
        digits_ = 0;
        ext_bytes_ = 0;
        state_ = remaining_ == 0 ? State::trailer_start : State::data;
        break;
      case State::data: {
        const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n - i));
        if (body != nullptr) {
          // Past the limit plus one byte nothing more is kept: the caller
          // refuses the body as soon as it sees it over its limit.
          const std::size_t room = body->size() <= body_limit ? body_limit + 1 - body->size() : 0;
          body->append(data + i, std::min(take, room));
        }
        remaining_ -= take;
        i += take;
        if (remaining_ == 0) state_ = State::data_cr;
        break;
      }
      case State::data_cr:
        if (c != '\r') return fail();
        state_ = State::data_lf;
        ++i;
        break;
      case State::data_lf:
        if (c != '\n') return fail();
        state_ = State::size;
        ++i;
        break;
      case State::trailer_start:
        // The final CRLF, or a trailer field line (never a continuation).
        if (c == '\r') {
          state_ = State::last_lf;
          ++i;
          break;
        }
        if (c == '\n' || c == ' ' || c == '\t') return fail();
        state_ = State::trailer;
        [[fallthrough]];
      case State::trailer:
        if (++trailer_bytes_ > kMaxTrailerBytes) return fail();
        if (c == '\r') state_ = State::trailer_lf;
        else if (c == '\n') return fail();
        ++i;
        break;
      case State::trailer_lf:
        if (c != '\n') return fail();
        state_ = State::trailer_start;
        ++i;
        break;
      case State::last_lf:
        if (c != '\n') return fail();
        state_ = State::done;
        ++i;
        return i;
      case State::done:
      case State::failed:
        return i;
    }
  }
  return i;
}

namespace {

// host[:port] with brackets for IPv6 (kept in the host); `default_port` 0
// means a port is required. Port 0 and unbracketed IPv6 are refused.
bool split_host_port(std::string_view authority, std::uint16_t default_port, Target& out) {
  const HostPort split = awf::split_host_port(authority);
  if (split.fault != HostPort::Fault::none || split.has_bare_colons() || split.host_as_written.empty()) return false;
  if (split.port_text.empty()) {
    if (default_port == 0) return false;
    out.port = default_port;
  } else if (const std::optional<std::uint16_t> port = parse_port(split.port_text); port && *port != 0) {
    out.port = *port;
  } else {
    return false;
  }
  out.host = std::string(split.host_as_written);
  return true;
}

}  // namespace

std::optional<Target> parse_absolute_http(std::string_view target) {
  constexpr std::string_view scheme = "http://";
  if (target.size() < scheme.size() || !iequals(target.substr(0, scheme.size()), scheme)) return std::nullopt;
  std::string_view rest = target.substr(scheme.size());
  auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  // userinfo is not part of the destination: http://allowed@evil/ goes to evil,
  // and evil is what policy sees.
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.find('\\') != std::string_view::npos) return std::nullopt;
  Target t;
  if (!split_host_port(authority, 80, t)) return std::nullopt;
  if (auto hash = path.find('#'); hash != std::string_view::npos) path = path.substr(0, hash);
  if (path.empty() || path.front() == '?') t.path = "/" + std::string(path);
  else t.path = std::string(path);
  return t;
}

std::optional<Target> parse_authority(std::string_view authority) {
  if (authority.find_first_of("/@?#\\") != std::string_view::npos) return std::nullopt;
  Target t;
  if (!split_host_port(authority, 0, t)) return std::nullopt;
  return t;
}

namespace {

bool is_hop_by_hop(std::string_view name) {
  static constexpr std::string_view names[] = {
      "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "host",
  };
  for (auto n : names) {
    if (iequals(name, n)) return true;
  }
  // Proxy-Authorization, Proxy-Authenticate and friends are for us, not the origin.
  return name.size() >= 6 && iequals(name.substr(0, 6), "proxy-");
}

void append_fields(std::string& out, const MessageHead& head) {
  for (const auto& h : head.headers) {
    // Headers the sender listed in Connection are hop-by-hop too (RFC 9110
    // §7.6.1); a binary search in the tokens collected once.
    if (is_hop_by_hop(h.name) || head.connection_lists(h.name)) continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
}

}  // namespace

std::string build_upstream_request(const RequestHead& head, const Target& target, bool keep_upgrade,
                                   bool absolute_form) {
  std::string out;
  out.reserve(head.head_size + 64);
  out += head.method;
  out += ' ';
  if (absolute_form) {
    out += "http://";
    out += target.host;
    if (target.port != 80) {
      out += ':';
      out += std::to_string(target.port);
    }
  }
  out += target.path;
  out += head.version_minor == 0 ? " HTTP/1.0\r\nHost: " : " HTTP/1.1\r\nHost: ";
  out += target.host;
  if (target.port != 80) {
    out += ':';
    out += std::to_string(target.port);
  }
  out += "\r\n";
  append_fields(out, head);
  if (keep_upgrade) {
    if (const std::string* up = head.find("upgrade")) {
      out += "Upgrade: ";
      out += *up;
      out += "\r\nConnection: Upgrade\r\n";
    }
  }
  out += "\r\n";
  return out;
}

std::string build_client_response(const ResponseHead& head, bool close_client, bool keep_upgrade) {
  std::string out;
  out.reserve(head.head_size + 64);
  out += "HTTP/1.1 ";
  out += std::to_string(head.status);
  out += ' ';
  out += head.reason;
  out += "\r\n";
  append_fields(out, head);
  if (keep_upgrade) {
    if (const std::string* up = head.find("upgrade")) {
      out += "Upgrade: ";
      out += *up;
      out += "\r\nConnection: Upgrade\r\n";
    }
  } else if (close_client) {
    out += "Connection: close\r\n";
  }
  out += "\r\n";
  return out;
}

}  // namespace awf::proxy
