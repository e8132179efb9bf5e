// The fake LLM provider: its own CA and leaf made with the openssl command,
// then Asio coroutines on one thread serving HTTPS (one coroutine per
// connection, so slow streams never hold others up). Answers are built by
// plain functions from the request and the current settings; the session only
// reads, records and writes.
#include "awf/testing/fake_provider.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "awf/testing/files.h"
#include "awf/testing/process.h"

namespace awf::testing {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

// Limits on what a client controls; a test never comes near them, a runaway
// client is cut off instead of eating the machine's memory.
constexpr std::size_t max_head_bytes = 64 * 1024;
constexpr std::size_t max_body_bytes = 64 * 1024 * 1024;
constexpr std::size_t max_frame_bytes = 16 * 1024 * 1024;

char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower_ascii(x) == lower_ascii(y);
         });
}

bool contains_ignoring_case(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char x, char y) { return lower_ascii(x) == lower_ascii(y); });
  return it != haystack.end();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Comma-separated list elements (a header's values), trimmed, empties dropped.
std::vector<std::string> list_elements(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    auto comma = value.find(',');
    auto item = trim(value.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

// ---- JSON, just enough: the raw text of an object's top-level members, and
// string literals both ways. Bodies are the client's; the fake must not trip
// on a "model" key nested in a message, so nested values are skipped whole.

void skip_space(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
}

// s[i] is the opening quote; leaves i after the closing one. False if unterminated.
bool skip_string(std::string_view s, std::size_t& i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') ++i;
    else if (s[i] == '"') {
      ++i;
      return true;
    }
  }
  return false;
}

bool skip_value(std::string_view s, std::size_t& i) {
  if (i >= s.size()) return false;
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        if (!skip_string(s, i)) return false;
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') --depth;
      ++i;
      if (depth == 0) return true;
    }
    return false;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' && s[i] != '\r' &&
         s[i] != '\t')
    ++i;
  return true;
}

// Top-level members of a JSON object: name → raw value text. Stops quietly at
// the first malformed spot, keeping what it found before it.
std::map<std::string, std::string_view, std::less<>> object_members(std::string_view s) {
  std::map<std::string, std::string_view, std::less<>> out;
  std::size_t i = 0;
  skip_space(s, i);
  if (i >= s.size() || s[i] != '{') return out;
  ++i;
  for (;;) {
    skip_space(s, i);
    if (i >= s.size() || s[i] != '"') return out;
    std::size_t name_start = i;
    if (!skip_string(s, i)) return out;
    std::string name(s.substr(name_start + 1, i - name_start - 2));
    skip_space(s, i);
    if (i >= s.size() || s[i] != ':') return out;
    ++i;
    skip_space(s, i);
    std::size_t value_start = i;
    if (!skip_value(s, i)) return out;
    out.emplace(std::move(name), s.substr(value_start, i - value_start));
    skip_space(s, i);
    if (i >= s.size() || s[i] != ',') return out;
    ++i;
  }
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The value of a raw JSON string literal; nullopt when `raw` is not one.
std::optional<std::string> string_value(std::string_view raw) {
  if (raw.size() < 2 || raw.front() != '"' || raw.back() != '"') return std::nullopt;
  std::string out;
  auto hex4 = [&](std::size_t at, unsigned& v) {
    if (at + 4 > raw.size() - 1) return false;
    auto r = std::from_chars(raw.data() + at, raw.data() + at + 4, v, 16);
    return r.ec == std::errc() && r.ptr == raw.data() + at + 4;
  };
  for (std::size_t i = 1; i + 1 < raw.size(); ++i) {
    char c = raw[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i + 1 > raw.size() - 1) return std::nullopt;
    switch (raw[i]) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'u': {
        unsigned cp = 0;
        if (!hex4(i + 1, cp)) return std::nullopt;
        i += 4;
        unsigned low = 0;
        if (cp >= 0xD800 && cp < 0xDC00 && i + 2 < raw.size() && raw[i + 1] == '\\' && raw[i + 2] == 'u' &&
            hex4(i + 3, low) && low >= 0xDC00 && low < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          i += 6;
        }
        append_utf8(out, cp);
        break;
      }
      default: out += raw[i]; break;  // \" \\ \/
    }
  }
  return out;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", u);
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// ---- Answers.

struct Reply {
  int status = 200;
  std::vector<Header> headers;  // Content-Type and the like; framing is added when written
  std::string body;             // a whole answer...
  std::vector<std::string> pieces;  // ...or a streamed one, one chunk per piece
  bool streamed = false;
};

struct Scripted {
  int status;
  std::string body;
  std::vector<Header> headers;
};

// What a request is answered with may change while the fake runs.
struct Settings {
  std::size_t stream_events = 5;
  std::chrono::milliseconds event_delay{50};
  std::chrono::milliseconds first_byte_delay{0};
  std::optional<std::size_t> stall_after_events;
  std::vector<std::string> rejected_betas;
  std::deque<Scripted> scripted;
  FakeProvider::Federation federation;
  std::map<std::string, Scripted, std::less<>> model_answers;  // by the body's "model"
  std::size_t close_reused = 0;  // requests on a used connection still to be answered by closing it
};

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 529: return "Overloaded";
    default: return "Status";
  }
}

Reply json_reply(int status, std::string body) {
  Reply r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

Reply event_stream(std::vector<std::string> events) {
  Reply r;
  r.headers.emplace_back("Content-Type", "text/event-stream");
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.pieces = std::move(events);
  r.streamed = true;
  return r;
}

std::string sse_data(std::string_view json) { return "data: " + std::string(json) + "\n\n"; }
std::string sse_event(std::string_view name, std::string_view json) {
  return "event: " + std::string(name) + "\n" + sse_data(json);
}

constexpr std::string_view reply_text = "Hello from the fake provider.";
std::string piece_text(std::size_t i) { return "part-" + std::to_string(i + 1) + " "; }

Reply chat_completion(const std::string& model, bool stream, std::size_t events, std::size_t n, bool usage) {
  std::string id = json_string("chatcmpl-fake-" + std::to_string(n));
  std::string m = json_string(model);
  if (!stream) {
    return json_reply(200, "{\"id\":" + id + ",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":" + m +
                               ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" +
                               json_string(reply_text) +
                               "},\"finish_reason\":\"stop\"}],"
                               "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,\"total_tokens\":12}}");
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < events; ++i) {
    std::string finish = i + 1 == events ? "\"stop\"" : "null";
    out.push_back(sse_data("{\"id\":" + id + ",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":" +
                           m + ",\"choices\":[{\"index\":0,\"delta\":{" + (i == 0 ? "\"role\":\"assistant\"," : "") +
                           "\"content\":" + json_string(piece_text(i)) + "},\"finish_reason\":" + finish + "}]}"));
  }
  if (usage) {
    out.push_back(sse_data("{\"id\":" + id + ",\"object\":\"chat.completion.chunk\",\"model\":" + m +
                           ",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":" +
                           std::to_string(events) + ",\"total_tokens\":" + std::to_string(5 + events) + "}}"));
  }
  out.push_back("data: [DONE]\n\n");
  return event_stream(std::move(out));
}

Reply anthropic_message(const std::string& model, bool stream, std::size_t events, std::size_t n) {
  std::string id = json_string("msg_fake_" + std::to_string(n));
  std::string m = json_string(model);
  if (!stream) {
    return json_reply(200, "{\"id\":" + id + ",\"type\":\"message\",\"role\":\"assistant\",\"model\":" + m +
                               ",\"content\":[{\"type\":\"text\",\"text\":" + json_string(reply_text) +
                               "}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
                               "\"usage\":{\"input_tokens\":5,\"output_tokens\":7}}");
  }
  std::vector<std::string> out;
  out.push_back(sse_event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":" + id +
                                               ",\"type\":\"message\",\"role\":\"assistant\",\"model\":" + m +
                                               ",\"content\":[],\"stop_reason\":null,"
                                               "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}"));
  out.push_back(sse_event("content_block_start",
                          "{\"type\":\"content_block_start\",\"index\":0,"
                          "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"));
  for (std::size_t i = 0; i < events; ++i) {
    out.push_back(sse_event("content_block_delta",
                            "{\"type\":\"content_block_delta\",\"index\":0,"
                            "\"delta\":{\"type\":\"text_delta\",\"text\":" +
                                json_string(piece_text(i)) + "}}"));
  }
  out.push_back(sse_event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"));
  out.push_back(sse_event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
                                           "\"usage\":{\"output_tokens\":" +
                                               std::to_string(events) + "}}"));
  out.push_back(sse_event("message_stop", "{\"type\":\"message_stop\"}"));
  return event_stream(std::move(out));
}

Reply openai_response(const std::string& model, bool stream, std::size_t events, std::size_t n) {
  std::string id = json_string("resp_fake_" + std::to_string(n));
  std::string m = json_string(model);
  std::string done = "{\"id\":" + id +
                     ",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"completed\",\"model\":" +
                     m +
                     ",\"output\":[{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
                     "\"text\":" +
                     json_string(reply_text) +
                     "}]}],\"usage\":{\"input_tokens\":5,\"output_tokens\":7,\"total_tokens\":12}}";
  if (!stream) return json_reply(200, done);
  std::vector<std::string> out;
  out.push_back(sse_event("response.created", "{\"type\":\"response.created\",\"response\":{\"id\":" + id +
                                                  ",\"object\":\"response\",\"status\":\"in_progress\",\"model\":" + m +
                                                  "}}"));
  for (std::size_t i = 0; i < events; ++i) {
    out.push_back(sse_event("response.output_text.delta",
                            "{\"type\":\"response.output_text.delta\",\"output_index\":0,"
                            "\"content_index\":0,\"delta\":" +
                                json_string(piece_text(i)) + "}"));
  }
  out.push_back(sse_event("response.completed", "{\"type\":\"response.completed\",\"response\":" + done + "}"));
  return event_stream(std::move(out));
}

Reply model_list() {
  return json_reply(200,
                    "{\"object\":\"list\",\"data\":["
                    "{\"id\":\"gpt-fake-1\",\"object\":\"model\",\"owned_by\":\"fake-provider\"},"
                    "{\"id\":\"claude-fake-1\",\"object\":\"model\",\"owned_by\":\"fake-provider\"},"
                    "{\"id\":\"gemini-fake-1\",\"object\":\"model\",\"owned_by\":\"fake-provider\"}]}");
}

std::string gemini_chunk(const std::string& model, std::string_view text, bool last) {
  return "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":" + json_string(text) + "}]}" +
         (last ? ",\"finishReason\":\"STOP\"" : "") + ",\"index\":0}],\"modelVersion\":" + json_string(model) +
         ",\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":7,\"totalTokenCount\":12}}";
}

Reply gemini(const std::string& model, bool stream, bool sse, std::size_t events) {
  if (!stream) return json_reply(200, gemini_chunk(model, reply_text, true));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < events; ++i) {
    std::string chunk = gemini_chunk(model, piece_text(i), i + 1 == events);
    if (sse) out.push_back(sse_data(chunk));
    else out.push_back((i == 0 ? "[" : ",\r\n") + chunk + (i + 1 == events ? "]" : ""));
  }
  if (sse) return event_stream(std::move(out));
  Reply r;
  r.headers.emplace_back("Content-Type", "application/json");
  r.pieces = std::move(out);
  r.streamed = true;
  return r;
}

Reply not_found(const RecordedRequest& req) {
  return json_reply(404, "{\"error\":{\"type\":\"not_found\",\"message\":" +
                             json_string("fake provider: no route for " + req.method + " " + req.target) + "}}");
}

bool has_query_param(std::string_view query, std::string_view param) {
  while (!query.empty()) {
    auto amp = query.find('&');
    if (query.substr(0, amp) == param) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

// The top-level "model" of a JSON body; "" when there is none.
std::string body_model(std::string_view body) {
  auto members = object_members(body);
  auto it = members.find("model");
  if (it == members.end()) return "";
  return string_value(it->second).value_or("");
}

// Workload identity federation's two endpoints (see the header); nullopt
// for every other request. A token issued is appended to `issued`.
std::optional<Reply> federation_reply(const RecordedRequest& req, Settings& settings,
                                      std::vector<std::string>& issued) {
  std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  FakeProvider::Federation& f = settings.federation;
  if (req.method == "GET" && path.ends_with("/idtoken")) {
    if (!f.identity_available) return json_reply(500, "{\"message\":\"identity tokens are held back\"}");
    std::optional<std::string> auth = req.header("authorization");
    bool bearer = auth && auth->size() > 7 && equals_ignoring_case(auth->substr(0, 7), "bearer ");
    if (!bearer || (!f.request_token.empty() && auth->substr(7) != f.request_token))
      return json_reply(401, "{\"message\":\"bad request token\"}");
    return json_reply(200, "{\"count\":1,\"value\":" + json_string(f.identity_jwt) + "}");
  }
  if (req.method == "POST" && path.ends_with("/oauth/token")) {
    if (f.failing_exchanges > 0) {
      --f.failing_exchanges;
      auto members = object_members(req.body);
      auto assertion = members.find("assertion");
      std::string quoted = assertion == members.end() ? "" : string_value(assertion->second).value_or("");
      return json_reply(400, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_grant\",\"message\":" +
                                 json_string("assertion rejected: " + quoted) + "}}");
    }
    std::string token = f.access_token_prefix + std::to_string(issued.size() + 1);
    issued.push_back(token);
    std::string body = "{\"access_token\":" + json_string(token) + ",\"token_type\":\"Bearer\"";
    if (f.expires_in) body += ",\"expires_in\":" + std::to_string(*f.expires_in);
    return json_reply(200, body + "}");
  }
  return std::nullopt;
}

// The answer to a request that is not a WebSocket upgrade.
Reply route(const RecordedRequest& req, const Settings& settings, std::size_t n) {
  std::string_view target = req.target;
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  auto members = object_members(req.body);
  auto member = [&](std::string_view name) -> std::string_view {
    auto it = members.find(name);
    return it == members.end() ? std::string_view() : it->second;
  };
  std::string model = string_value(member("model")).value_or("fake-model");
  bool stream = member("stream") == "true";
  auto stream_options = object_members(member("stream_options"));
  auto include_usage = stream_options.find("include_usage");
  bool usage = include_usage != stream_options.end() && include_usage->second == "true";
  std::size_t events = settings.stream_events;
  bool post = req.method == "POST";

  if (auto m = path.rfind("/models/"); m != std::string_view::npos) {
    std::string_view rest = path.substr(m + 8);
    auto colon = rest.find(':');
    if (post && colon != std::string_view::npos) {
      std::string id(rest.substr(0, colon));
      std::string_view verb = rest.substr(colon + 1);
      if (verb == "generateContent") return gemini(id, false, false, events);
      if (verb == "streamGenerateContent") return gemini(id, true, has_query_param(query, "alt=sse"), events);
    }
  }
  if (post && path.ends_with("/chat/completions")) return chat_completion(model, stream, events, n, usage);
  if (post && path.ends_with("/messages")) return anthropic_message(model, stream, events, n);
  if (post && path.ends_with("/responses")) return openai_response(model, stream, events, n);
  if (req.method == "GET" && path.ends_with("/models")) return model_list();
  return not_found(req);
}

// Anthropic's refusal of an unknown beta, with the values the client sent
// that are in `rejected`; nullopt when none is.
std::optional<Reply> beta_rejection(const RecordedRequest& req, const std::vector<std::string>& rejected) {
  std::vector<std::string> hits;
  for (const auto& [name, value] : req.headers) {
    if (!equals_ignoring_case(name, "anthropic-beta")) continue;
    for (const auto& v : list_elements(value))
      if (std::find(rejected.begin(), rejected.end(), v) != rejected.end() &&
          std::find(hits.begin(), hits.end(), v) == hits.end())
        hits.push_back(v);
  }
  if (hits.empty()) return std::nullopt;
  std::string values;
  for (const auto& h : hits) values += (values.empty() ? "`" : ", `") + h + "`";
  return json_reply(400, "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":" +
                             json_string("Unexpected value(s) " + values + " for the `anthropic-beta` header") + "}}");
}

bool has_header(const std::vector<Header>& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const Header& h) { return equals_ignoring_case(h.first, name); });
}

// RFC 6455 §4.2.2: base64(SHA-1(key + the protocol's GUID)).
std::string websocket_accept(std::string_view key) {
  std::string input = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha1(), nullptr);
  unsigned char out[64];
  int n = EVP_EncodeBlock(out, digest, static_cast<int>(len));
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

std::string websocket_frame(unsigned char first_byte, std::string_view payload) {
  std::string f;
  f += static_cast<char>(first_byte);
  std::uint64_t n = payload.size();
  if (n < 126) {
    f += static_cast<char>(n);
  } else if (n <= 0xFFFF) {
    f += static_cast<char>(126);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n & 0xFF);
  } else {
    f += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((n >> shift) & 0xFF);
  }
  f += payload;
  return f;
}

std::optional<std::size_t> parse_hex(std::string_view s) {
  s = trim(s.substr(0, s.find(';')));  // chunk extensions are ignored
  std::size_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// Request line and header fields of a head (without the final blank line).
bool parse_head(std::string_view head, RecordedRequest& req) {
  auto eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  auto sp1 = line.find(' ');
  auto sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return false;
  req.method = std::string(line.substr(0, sp1));
  req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  req.version = std::string(line.substr(sp2 + 1));
  if (req.method.empty() || req.target.empty() || !req.version.starts_with("HTTP/1.")) return false;
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    line = head.substr(0, eol);
    if (line.empty()) continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    req.headers.emplace_back(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
  }
  return true;
}

}  // namespace

std::optional<std::string> RecordedRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers)
    if (equals_ignoring_case(n, name)) return v;
  return std::nullopt;
}

std::size_t RecordedRequest::header_count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(headers.begin(), headers.end(),
                    [&](const Header& h) { return equals_ignoring_case(h.first, name); }));
}

struct FakeProvider::Impl {
  // Declared before `io`, so destroyed after it: destroying `io` destroys
  // the coroutine frames still suspended in it, and their locals (an
  // IdleMark, a TLS stream) reach back into these on their way out.
  Options options;
  std::string ca_cert, ca_key, cert, key;
  std::atomic<std::size_t> connections{0}, failed_handshakes{0};

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  Settings settings;
  std::vector<RecordedRequest> recorded;
  std::vector<std::string> websocket_messages;
  std::vector<std::string> issued_tokens;  // access tokens the exchange answered with

  using Stream = asio::ssl::stream<tcp::socket>;
  // Connections waiting for a request with nothing of one read yet, by
  // connection number; touched on the I/O thread, counted under `mutex`.
  std::map<std::size_t, Stream*> idle;
  std::optional<asio::ssl::context> tls;

  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::uint16_t port = 0;

  awaitable<void> read_more(Stream& s, std::string& buf) {
    char tmp[65536];
    std::size_t n = co_await s.async_read_some(asio::buffer(tmp), use_awaitable);
    buf.append(tmp, n);
  }

  awaitable<void> write(Stream& s, std::string_view data) {
    co_await asio::async_write(s, asio::buffer(data.data(), data.size()), use_awaitable);
  }

  awaitable<void> sleep(std::chrono::milliseconds d) {
    if (d.count() <= 0) co_return;
    asio::steady_timer t(io, d);
    co_await t.async_wait(use_awaitable);
  }

  // Reads the body the head announced into req.body. False when it is too
  // large or its chunked framing is broken (the connection is then dropped).
  awaitable<bool> read_body(Stream& s, std::string& buf, RecordedRequest& req) {
    std::optional<std::string> te = req.header("transfer-encoding");
    if (te && contains_ignoring_case(*te, "chunked")) {
      req.chunked = true;
      for (;;) {
        std::size_t eol;
        while ((eol = buf.find("\r\n")) == std::string::npos) {
          if (buf.size() > 4096) co_return false;
          co_await read_more(s, buf);
        }
        std::optional<std::size_t> size = parse_hex(std::string_view(buf).substr(0, eol));
        if (!size || *size > max_body_bytes - req.body.size()) co_return false;
        buf.erase(0, eol + 2);
        if (*size == 0) {
          for (;;) {  // trailer fields until the blank line
            while ((eol = buf.find("\r\n")) == std::string::npos) {
              if (buf.size() > max_head_bytes) co_return false;
              co_await read_more(s, buf);
            }
            buf.erase(0, eol + 2);
            if (eol == 0) co_return true;
          }
        }
        while (buf.size() < *size + 2) co_await read_more(s, buf);
        if (buf.compare(*size, 2, "\r\n") != 0) co_return false;
        req.body.append(buf, 0, *size);
        buf.erase(0, *size + 2);
      }
    }
    std::optional<std::string> cl = req.header("content-length");
    if (!cl) co_return true;
    std::size_t length = 0;
    auto r = std::from_chars(cl->data(), cl->data() + cl->size(), length);
    if (r.ec != std::errc() || r.ptr != cl->data() + cl->size() || length > max_body_bytes) co_return false;
    while (buf.size() < length) co_await read_more(s, buf);
    req.body.assign(buf, 0, length);
    buf.erase(0, length);
    co_return true;
  }

  void note_event_sent(std::size_t index) {
    std::lock_guard lock(mutex);
    recorded[index].events_sent.push_back(Clock::now());
  }

  // Writes a reply; for a stream, one chunk per piece with the configured
  // spacing, stopping (and keeping the connection open) at the stall point.
  // False when the connection is to be held or closed after it.
  awaitable<bool> send(Stream& s, const Reply& reply, std::size_t index, bool head_only, bool close,
                       const Settings& now) {
    co_await sleep(now.first_byte_delay);
    std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason_phrase(reply.status) + "\r\n";
    for (const auto& [name, value] : reply.headers) head += name + ": " + value + "\r\n";
    head += "X-Fake-Provider-Request: " + std::to_string(index + 1) + "\r\n";
    if (close) head += "Connection: close\r\n";
    if (!reply.streamed) {
      head += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n\r\n";
      if (!head_only) head += reply.body;
      co_await write(s, head);
      co_return !close;
    }
    head += "Transfer-Encoding: chunked\r\n\r\n";
    co_await write(s, head);
    if (head_only) co_return !close;
    for (std::size_t i = 0; i < reply.pieces.size(); ++i) {
      if (now.stall_after_events && i == *now.stall_after_events) {
        co_await sleep(std::chrono::hours(24));  // ended by the destructor's io.stop()
        co_return false;
      }
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", reply.pieces[i].size());
      std::string chunk = size + reply.pieces[i] + "\r\n";
      co_await write(s, chunk);
      note_event_sent(index);
      if (i + 1 < reply.pieces.size()) co_await sleep(now.event_delay);
    }
    co_await write(s, "0\r\n\r\n");
    co_return !close;
  }

  // After the 101: every frame the client sends (masked, as RFC 6455 §5.3
  // requires of clients) is unmasked and sent back unmasked; a ping gets a
  // pong; a close is echoed and ends the connection.
  awaitable<void> echo_websocket(Stream& s, std::string& buf) {
    for (;;) {
      while (buf.size() < 2) co_await read_more(s, buf);
      auto b0 = static_cast<unsigned char>(buf[0]);
      auto b1 = static_cast<unsigned char>(buf[1]);
      std::uint64_t length = b1 & 0x7F;
      std::size_t offset = 2;
      if (length == 126) {
        while (buf.size() < 4) co_await read_more(s, buf);
        length = (static_cast<unsigned char>(buf[2]) << 8) | static_cast<unsigned char>(buf[3]);
        offset = 4;
      } else if (length == 127) {
        while (buf.size() < 10) co_await read_more(s, buf);
        length = 0;
        for (int i = 2; i < 10; ++i) length = (length << 8) | static_cast<unsigned char>(buf[i]);
        offset = 10;
      }
      if (length > max_frame_bytes) co_return;
      bool masked = (b1 & 0x80) != 0;
      std::size_t mask_at = offset;
      if (masked) offset += 4;
      while (buf.size() < offset + length) co_await read_more(s, buf);
      std::string payload = buf.substr(offset, length);
      if (masked)
        for (std::size_t i = 0; i < payload.size(); ++i)
          payload[i] = static_cast<char>(payload[i] ^ buf[mask_at + i % 4]);
      buf.erase(0, offset + length);
      unsigned opcode = b0 & 0x0F;
      if (opcode == 0xA) continue;  // an unasked pong needs no answer
      if (opcode <= 0x2) {
        std::lock_guard lock(mutex);
        websocket_messages.push_back(payload);
      }
      unsigned char reply_first = opcode == 0x9 ? static_cast<unsigned char>((b0 & 0xF0) | 0xA) : b0;
      std::string frame = websocket_frame(reply_first, payload);
      co_await write(s, frame);
      if (opcode == 0x8) co_return;
    }
  }

  // Marks the connection idle while `buf` holds nothing of a request.
  struct IdleMark {
    Impl& impl;
    std::size_t connection;
    IdleMark(Impl& i, std::size_t c, Stream& s) : impl(i), connection(c) {
      std::lock_guard lock(impl.mutex);
      impl.idle[connection] = &s;
    }
    ~IdleMark() {
      std::lock_guard lock(impl.mutex);
      impl.idle.erase(connection);
    }
  };

  awaitable<void> serve(Stream& s, std::size_t connection, std::string sni) {
    std::string buf;
    std::size_t served = 0;  // requests answered on this connection
    for (;;) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (buf.size() > max_head_bytes) {
          Reply too_big = json_reply(431, "{\"error\":{\"type\":\"request_too_large\"}}");
          Settings quick;
          co_await send(s, too_big, 0, false, true, quick);
          co_return;
        }
        if (buf.empty()) {
          IdleMark mark(*this, connection, s);
          co_await read_more(s, buf);
        } else {
          co_await read_more(s, buf);
        }
      }
      RecordedRequest req;
      req.arrived = Clock::now();
      req.sni = sni;
      req.connection = connection;
      std::string head = buf.substr(0, end + 2);
      buf.erase(0, end + 4);
      if (!parse_head(head, req)) co_return;
      std::optional<std::string> expect = req.header("expect");
      if (expect && equals_ignoring_case(*expect, "100-continue")) co_await write(s, "HTTP/1.1 100 Continue\r\n\r\n");
      if (!co_await read_body(s, buf, req)) co_return;

      std::optional<std::string> conn = req.header("connection");
      bool close = (conn && contains_ignoring_case(*conn, "close")) ||
                   (req.version == "HTTP/1.0" && !(conn && contains_ignoring_case(*conn, "keep-alive")));
      std::optional<std::string> upgrade = req.header("upgrade");
      std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
      std::optional<std::string> key = req.header("sec-websocket-key");
      bool websocket = req.method == "GET" && upgrade && contains_ignoring_case(*upgrade, "websocket") && key &&
                       path.ends_with("/responses");

      // Decide under the lock (scripted answers are used up in order), then
      // write without it.
      Reply reply;
      Settings now;
      std::size_t index;
      bool drop = false;  // close the connection instead of answering
      {
        std::lock_guard lock(mutex);
        index = recorded.size();
        now.stream_events = settings.stream_events;
        now.event_delay = settings.event_delay;
        now.first_byte_delay = settings.first_byte_delay;
        now.stall_after_events = settings.stall_after_events;
        if (auto federation = federation_reply(req, settings, issued_tokens)) {
          reply = std::move(*federation);
          now.first_byte_delay = settings.federation.delay;
          websocket = false;
        } else if (!settings.scripted.empty()) {
          Scripted next = std::move(settings.scripted.front());
          settings.scripted.pop_front();
          reply.status = next.status;
          reply.body = std::move(next.body);
          reply.headers = std::move(next.headers);
          if (!has_header(reply.headers, "content-type"))
            reply.headers.emplace_back("Content-Type", "application/json");
          websocket = false;
        } else if (served > 0 && settings.close_reused > 0) {
          --settings.close_reused;
          drop = true;
          websocket = false;
        } else if (auto answer = settings.model_answers.find(body_model(req.body));
                   answer != settings.model_answers.end()) {
          drop = answer->second.status == 0;
          reply.status = answer->second.status;
          reply.body = answer->second.body;
          reply.headers = answer->second.headers;
          if (!has_header(reply.headers, "content-type"))
            reply.headers.emplace_back("Content-Type", "application/json");
          websocket = false;
        } else if (auto refusal = beta_rejection(req, settings.rejected_betas)) {
          reply = std::move(*refusal);
          websocket = false;
        } else if (websocket) {
          reply.status = 101;
        } else {
          reply = route(req, settings, index + 1);
        }
        req.status = drop ? 0 : reply.status;
        recorded.push_back(req);
      }
      changed.notify_all();
      if (drop) co_return;  // no byte of an answer: the connection just ends
      ++served;

      if (websocket) {
        co_await sleep(now.first_byte_delay);
        std::string switching =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
            websocket_accept(*key) + "\r\n\r\n";
        co_await write(s, switching);
        co_await echo_websocket(s, buf);
        co_return;
      }
      if (!co_await send(s, reply, index, req.method == "HEAD", close, now)) co_return;
    }
  }

  awaitable<void> session(tcp::socket socket) {
    std::size_t connection = ++connections;
    try {
      Stream s(std::move(socket), *tls);
      boost::system::error_code ec;
      co_await s.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        ++failed_handshakes;
        co_return;
      }
      const char* name = SSL_get_servername(s.native_handle(), TLSEXT_NAMETYPE_host_name);
      co_await serve(s, connection, name ? name : "");
    } catch (const std::exception&) {
      // the client went away: nothing to do in a test server
    }
  }

  awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (!acceptor.is_open()) co_return;
        co_await sleep(std::chrono::milliseconds(10));  // EMFILE and the like: try again shortly
        continue;
      }
      asio::co_spawn(io, session(std::move(s)), asio::detached);
    }
  }

  // The CA, then the leaf the server presents, as Options::certificate asks.
  bool make_certificates() {
    std::string prefix = options.cert_dir + "/fake-provider-" + std::to_string(port);
    ca_cert = prefix + "-ca-cert.pem";
    ca_key = prefix + "-ca-key.pem";
    cert = prefix + "-cert.pem";
    key = prefix + "-key.pem";
    std::string csr = prefix + ".csr", config = prefix + "-openssl.cnf";

    std::string names;
    if (options.certificate == Certificate::wrong_name) {
      names = "DNS:wrong-name.test";
    } else {
      for (const auto& d : options.dns_names) names += "DNS:" + d + ",";
      names += "IP:" + options.host;
    }
    std::string leaf_cn = options.certificate == Certificate::wrong_name ? "wrong-name.test"
                          : options.dns_names.empty()                    ? options.host
                                                                         : options.dns_names.front();
    // One config for all steps, so that the CA gets CA:TRUE and the leaf
    // gets exactly the names asked for (nothing from the system's config).
    write_file(config,
               "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
               "[ca_ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
               "subjectKeyIdentifier = hash\n"
               "[leaf_ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n"
               "extendedKeyUsage = serverAuth\nsubjectAltName = " +
                   names + "\n");
    const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
    auto openssl = [&](std::vector<std::string> args, const std::vector<std::string>& key_args) {
      std::vector<std::string> argv = {"openssl"};
      argv.insert(argv.end(), args.begin(), args.begin() + 2);
      argv.insert(argv.end(), key_args.begin(), key_args.end());
      argv.insert(argv.end(), args.begin() + 2, args.end());
      RunResult r = run(argv);
      if (r.exit_code != 0)
        std::fprintf(stderr, "fake provider: openssl %s failed: %s\n", args[0].c_str(), r.err.c_str());
      return r.exit_code == 0;
    };
    if (!openssl({"req", "-x509", "-config", config, "-extensions", "ca_ext", "-keyout", ca_key, "-out", ca_cert,
                  "-days", "1", "-subj", "/CN=awf fake provider test CA"},
                 ec_key))
      return false;
    if (options.certificate == Certificate::self_signed) {
      return openssl({"req", "-x509", "-config", config, "-extensions", "leaf_ext", "-keyout", key, "-out", cert,
                      "-days", "1", "-subj", "/CN=" + leaf_cn},
                     ec_key);
    }
    if (!openssl({"req", "-new", "-config", config, "-keyout", key, "-out", csr, "-subj", "/CN=" + leaf_cn}, ec_key))
      return false;
    return openssl({"x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-days", "1", "-extfile", config,
                    "-extensions", "leaf_ext", "-out", cert},
                   {});
  }
};

FakeProvider::FakeProvider(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<FakeProvider> FakeProvider::start(const Options& options) {
  if (options.cert_dir.empty()) {
    std::fprintf(stderr, "fake provider: Options::cert_dir is required\n");
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->settings.stream_events = options.stream_events;
  impl->settings.event_delay = options.event_delay;
  impl->settings.first_byte_delay = options.first_byte_delay;
  impl->settings.stall_after_events = options.stall_after_events;
  impl->settings.rejected_betas = options.rejected_betas;
  impl->settings.federation = options.federation;

  boost::system::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(options.host, ec), options.port);
  if (!ec) impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(1024, ec);
  if (ec) {
    std::fprintf(stderr, "fake provider: cannot listen on \"%s\" port %u: %s\n", options.host.c_str(),
                 unsigned{options.port}, ec.message().c_str());
    return nullptr;
  }
  impl->port = impl->acceptor.local_endpoint().port();
  if (!impl->make_certificates()) return nullptr;
  impl->tls.emplace(asio::ssl::context::tls_server);
  impl->tls->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1);
  impl->tls->use_certificate_chain_file(impl->cert, ec);
  if (!ec) impl->tls->use_private_key_file(impl->key, asio::ssl::context::pem, ec);
  if (ec) {
    std::fprintf(stderr, "fake provider: cannot load \"%s\": %s\n", impl->cert.c_str(), ec.message().c_str());
    return nullptr;
  }
  asio::co_spawn(impl->io, impl->accept_loop(), asio::detached);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<FakeProvider>(new FakeProvider(std::move(impl)));
}

FakeProvider::~FakeProvider() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& FakeProvider::host() const { return impl_->options.host; }
std::uint16_t FakeProvider::port() const { return impl_->port; }
const std::string& FakeProvider::ca_cert_path() const { return impl_->ca_cert; }
const std::string& FakeProvider::cert_path() const { return impl_->cert; }
const std::string& FakeProvider::key_path() const { return impl_->key; }

void FakeProvider::set_next_status(int status, std::string body, std::vector<Header> headers, std::size_t times) {
  std::lock_guard lock(impl_->mutex);
  for (std::size_t i = 0; i < times; ++i) impl_->settings.scripted.push_back(Scripted{status, body, headers});
}

void FakeProvider::set_model_answer(std::string model, int status, std::string body, std::vector<Header> headers) {
  std::lock_guard lock(impl_->mutex);
  impl_->settings.model_answers[std::move(model)] = Scripted{status, std::move(body), std::move(headers)};
}

void FakeProvider::set_close_reused_connections(std::size_t times) {
  std::lock_guard lock(impl_->mutex);
  impl_->settings.close_reused = times;
}

std::size_t FakeProvider::idle_connections() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->idle.size();
}

std::size_t FakeProvider::close_idle_connections() {
  std::promise<std::size_t> done;
  auto closed = done.get_future();
  asio::post(impl_->io, [this, &done] {
    std::vector<Impl::Stream*> streams;
    {
      std::lock_guard lock(impl_->mutex);
      for (const auto& [connection, stream] : impl_->idle) streams.push_back(stream);
    }
    // The pending read fails and the connection's coroutine ends; the peer
    // sees the end of the stream without a TLS close_notify, as when a
    // server's idle timer drops a connection.
    for (auto* stream : streams) {
      boost::system::error_code ec;
      stream->lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
      stream->lowest_layer().close(ec);
    }
    done.set_value(streams.size());
  });
  return closed.get();
}

void FakeProvider::set_rejected_betas(std::vector<std::string> values) {
  std::lock_guard lock(impl_->mutex);
  impl_->settings.rejected_betas = std::move(values);
}

void FakeProvider::set_first_byte_delay(std::chrono::milliseconds delay) {
  std::lock_guard lock(impl_->mutex);
  impl_->settings.first_byte_delay = delay;
}

void FakeProvider::set_stall_after_events(std::optional<std::size_t> events) {
  std::lock_guard lock(impl_->mutex);
  impl_->settings.stall_after_events = events;
}

void FakeProvider::set_stream(std::size_t events, std::chrono::milliseconds delay) {
  std::lock_guard lock(impl_->mutex);
  impl_->settings.stream_events = events;
  impl_->settings.event_delay = delay;
}

void FakeProvider::set_federation(Federation federation) {
  std::lock_guard lock(impl_->mutex);
  impl_->settings.federation = std::move(federation);
}

void FakeProvider::set_identity_available(bool available) {
  std::lock_guard lock(impl_->mutex);
  impl_->settings.federation.identity_available = available;
}

std::vector<std::string> FakeProvider::issued_access_tokens() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->issued_tokens;
}

std::size_t FakeProvider::connections() const { return impl_->connections; }
std::size_t FakeProvider::failed_handshakes() const { return impl_->failed_handshakes; }

std::size_t FakeProvider::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->recorded.size();
}

std::vector<RecordedRequest> FakeProvider::recorded_requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->recorded;
}

std::optional<RecordedRequest> FakeProvider::request(std::size_t index) const {
  std::lock_guard lock(impl_->mutex);
  if (index >= impl_->recorded.size()) return std::nullopt;
  return impl_->recorded[index];
}

std::optional<RecordedRequest> FakeProvider::last_request() const {
  std::lock_guard lock(impl_->mutex);
  if (impl_->recorded.empty()) return std::nullopt;
  return impl_->recorded.back();
}

std::vector<std::string> FakeProvider::websocket_messages() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->websocket_messages;
}

bool FakeProvider::wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->changed.wait_for(lock, timeout, [&] { return impl_->recorded.size() >= n; });
}

}  // namespace awf::testing
