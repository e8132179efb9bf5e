// Parsing and writing JSON request bodies with Boost.JSON.
#include "json_body.h"

#include "awf/json_quote.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <charconv>
#include <cmath>

namespace awf::api {

namespace {

namespace bj = boost::json;

// Builds the value as boost::json::parser does, and counts the `model`
// keys of the outermost object.
class BodyBuilder {
 public:
  static constexpr std::size_t max_array_size = bj::array::max_size();
  static constexpr std::size_t max_object_size = bj::object::max_size();
  static constexpr std::size_t max_string_size = bj::string::max_size();
  static constexpr std::size_t max_key_size = bj::string::max_size();

  BodyBuilder() { stack_.reset(); }

  bj::value release() { return stack_.release(); }
  std::size_t model_keys() const { return model_keys_; }

  bool on_document_begin(bj::error_code&) { return true; }
  bool on_document_end(bj::error_code&) { return true; }
  bool on_object_begin(bj::error_code&) {
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t n, bj::error_code&) {
    --depth_;
    stack_.push_object(n);
    return true;
  }
  bool on_array_begin(bj::error_code&) {
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t n, bj::error_code&) {
    --depth_;
    stack_.push_array(n);
    return true;
  }
  bool on_key_part(bj::string_view s, std::size_t, bj::error_code&) {
    if (depth_ == 1) key_.append(s.data(), s.size());
    stack_.push_chars(s);
    return true;
  }
  bool on_key(bj::string_view s, std::size_t, bj::error_code&) {
    if (depth_ == 1) {
      key_.append(s.data(), s.size());
      if (key_ == "model") ++model_keys_;
      key_.clear();
    }
    stack_.push_key(s);
    return true;
  }
  bool on_string_part(bj::string_view s, std::size_t, bj::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(bj::string_view s, std::size_t, bj::error_code&) {
    stack_.push_string(s);
    return true;
  }
  bool on_number_part(bj::string_view s, bj::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, bj::string_view, bj::error_code&) {
    number_.clear();
    stack_.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, bj::string_view, bj::error_code&) {
    number_.clear();
    stack_.push_uint64(u);
    return true;
  }
  // Boost 1.81 rounds some decimals to a neighbouring double; the text is
  // read again with std::from_chars, which rounds correctly, so a body we
  // rewrite keeps the numbers the client wrote.
  bool on_double(double d, bj::string_view s, bj::error_code&) {
    number_.append(s.data(), s.size());
    double exact = 0;
    const auto r = std::from_chars(number_.data(), number_.data() + number_.size(), exact);
    stack_.push_double(r.ec == std::errc() && r.ptr == number_.data() + number_.size() ? exact : d);
    number_.clear();
    return true;
  }
  bool on_bool(bool b, bj::error_code&) {
    stack_.push_bool(b);
    return true;
  }
  bool on_null(bj::error_code&) {
    stack_.push_null();
    return true;
  }
  bool on_comment_part(bj::string_view, bj::error_code&) { return true; }
  bool on_comment(bj::string_view, bj::error_code&) { return true; }

 private:
  bj::value_stack stack_;
  std::size_t depth_ = 0;
  std::string key_;
  std::string number_;
  std::size_t model_keys_ = 0;
};

// Strings are written as JSON.stringify writes them, by the one writer the
// project has for that.
void write_string(std::string& out, bj::string_view s) { append_json_quoted(out, std::string_view(s.data(), s.size())); }

template <typename N>
void write_number(std::string& out, N n) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

void write_value(std::string& out, const bj::value& v) {
  switch (v.kind()) {
    case bj::kind::null: out += "null"; break;
    case bj::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case bj::kind::int64: write_number(out, v.get_int64()); break;
    case bj::kind::uint64: write_number(out, v.get_uint64()); break;
    case bj::kind::double_:
      // JSON has no infinity; an out-of-range literal reads as one.
      if (std::isfinite(v.get_double())) {
        write_number(out, v.get_double());
      } else {
        out += "null";
      }
      break;
    case bj::kind::string: write_string(out, v.get_string()); break;
    case bj::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write_value(out, e);
      }
      out += ']';
      break;
    }
    case bj::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& m : v.get_object()) {
        if (!first) out += ',';
        first = false;
        write_string(out, m.key());
        out += ':';
        write_value(out, m.value());
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

std::optional<JsonObjectBody> parse_json_object(std::string_view body) {
  bj::parse_options options;
  options.max_depth = kMaxBodyDepth;
  bj::basic_parser<BodyBuilder> parser(options);
  bj::error_code ec;
  const std::size_t used = parser.write_some(false, body.data(), body.size(), ec);
  if (ec || used != body.size() || !parser.done()) return std::nullopt;
  bj::value value = parser.handler().release();
  if (!value.is_object()) return std::nullopt;
  return JsonObjectBody{std::move(value.get_object()), parser.handler().model_keys()};
}

std::string write_json(const boost::json::value& value) {
  std::string out;
  write_value(out, value);
  return out;
}

}  // namespace awf::api
