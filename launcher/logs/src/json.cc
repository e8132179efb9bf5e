// JSON parsing through Boost.JSON, JSON.stringify-compatible writing, and the
// config reader's tree type filled from Boost.JSON values.
#include "awf/logs/json.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

#include <charconv>
#include <cmath>

#include "awf/json_quote.h"

namespace awf::json {

namespace {

namespace bj = boost::json;

// Builds the value as boost::json::parser does, except for doubles: Boost
// 1.81 rounds some decimals to a neighbouring double, so the number's text is
// read again with std::from_chars, which rounds correctly as JSON.parse does
// (a timestamp must print back as the digits it was written with).
class ValueBuilder {
 public:
  static constexpr std::size_t max_array_size = bj::array::max_size();
  static constexpr std::size_t max_object_size = bj::object::max_size();
  static constexpr std::size_t max_string_size = bj::string::max_size();
  static constexpr std::size_t max_key_size = bj::string::max_size();

  ValueBuilder() { stack_.reset(); }

  bj::value release() { return stack_.release(); }

  bool on_document_begin(bj::error_code&) { return true; }
  bool on_document_end(bj::error_code&) { return true; }
  bool on_object_begin(bj::error_code&) { return true; }
  bool on_object_end(std::size_t n, bj::error_code&) {
    stack_.push_object(n);
    return true;
  }
  bool on_array_begin(bj::error_code&) { return true; }
  bool on_array_end(std::size_t n, bj::error_code&) {
    stack_.push_array(n);
    return true;
  }
  bool on_key_part(bj::string_view s, std::size_t, bj::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_key(bj::string_view s, std::size_t, bj::error_code&) {
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
    number_text_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, bj::string_view, bj::error_code&) {
    number_text_.clear();
    stack_.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, bj::string_view, bj::error_code&) {
    number_text_.clear();
    stack_.push_uint64(u);
    return true;
  }
  bool on_double(double d, bj::string_view s, bj::error_code&) {
    number_text_.append(s.data(), s.size());
    double exact = 0;
    const char* first = number_text_.data();
    const char* last = first + number_text_.size();
    // Out of range keeps Boost's infinity or zero, which is what JSON.parse gives.
    if (auto [ptr, ec] = std::from_chars(first, last, exact); ec == std::errc() && ptr == last) d = exact;
    number_text_.clear();
    stack_.push_double(d);
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
  // Comments are off in the parse options; these are never called.
  bool on_comment_part(bj::string_view, bj::error_code&) { return true; }
  bool on_comment(bj::string_view, bj::error_code&) { return true; }

 private:
  bj::value_stack stack_;
  std::string number_text_;
};

void write(std::string& out, const bj::value& v, int indent, int level);

}  // namespace

Result<bj::value> parse_value(std::string_view text) {
  bj::parse_options options;
  options.max_depth = kMaxDepth;
  // Log lines carry whatever bytes a client sent; JSON.parse never sees them
  // as bytes, so they are passed through rather than refused.
  options.allow_invalid_utf8 = true;
  bj::basic_parser<ValueBuilder> parser(options);
  bj::error_code ec;
  std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec == bj::error::incomplete) return Error{"Unexpected end of JSON input"};
  if (ec == bj::error::too_deep) {
    return Error{"JSON nested deeper than " + std::to_string(kMaxDepth) + " levels at position " +
                 std::to_string(used)};
  }
  // Anything after the document (other than whitespace) is an error too.
  if (ec || used != text.size()) return Error{"Unexpected token at position " + std::to_string(used)};
  return parser.handler().release();
}

const bj::value* find(const bj::value& value, std::string_view key) {
  const bj::object* object = value.if_object();
  if (!object) return nullptr;
  // Boost keeps the last of duplicate keys, as JSON.parse does.
  return object->if_contains(bj::string_view(key.data(), key.size()));
}

std::string stringify(const bj::value& value, int indent) {
  std::string out;
  write(out, value, indent, 0);
  return out;
}

namespace {

void write(std::string& out, const bj::value& v, int indent, int level) {
  auto newline = [&](int lvl) {
    if (indent <= 0) return;
    out.push_back('\n');
    out.append(static_cast<std::size_t>(indent * lvl), ' ');
  };
  switch (v.kind()) {
    case bj::kind::null: out += "null"; break;
    case bj::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    // JavaScript has only doubles: integers print as the double they round to.
    case bj::kind::int64: out += number_to_string(static_cast<double>(v.get_int64())); break;
    case bj::kind::uint64: out += number_to_string(static_cast<double>(v.get_uint64())); break;
    case bj::kind::double_: out += number_to_string(v.get_double()); break;
    case bj::kind::string:
      append_json_quoted(out, std::string_view(v.get_string().data(), v.get_string().size()));
      break;
    case bj::kind::array: {
      const auto& items = v.get_array();
      if (items.empty()) {
        out += "[]";
        break;
      }
      out.push_back('[');
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out.push_back(',');
        newline(level + 1);
        write(out, items[i], indent, level + 1);
      }
      newline(level);
      out.push_back(']');
      break;
    }
    case bj::kind::object: {
      const auto& members = v.get_object();
      if (members.empty()) {
        out += "{}";
        break;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& member : members) {
        if (!first) out.push_back(',');
        first = false;
        newline(level + 1);
        append_json_quoted(out, std::string_view(member.key().data(), member.key().size()));
        out += indent > 0 ? ": " : ":";
        write(out, member.value(), indent, level + 1);
      }
      newline(level);
      out.push_back('}');
      break;
    }
  }
}

}  // namespace

std::string number_to_string(double n) {
  // JSON.stringify writes NaN and Infinity as null.
  if (!std::isfinite(n)) return "null";
  if (n == 0) return "0";
  char buf[64];
  // Shortest round-trip digits, then laid out as ECMAScript Number#toString
  // does: plain notation for exponents in [-7, 21), exponent form otherwise.
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n, std::chars_format::scientific);
  if (ec != std::errc()) return "null";
  std::string sci(buf, end);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  auto e_pos = sci.find('e');
  std::string mantissa = sci.substr(0, e_pos);
  int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }
  int k = static_cast<int>(digits.size());
  int point = exponent + 1;  // position of the decimal point after `point` digits
  std::string out = negative ? "-" : "";
  if (k <= point && point <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(point - k), '0');
  } else if (0 < point && point <= 21) {
    out += digits.substr(0, static_cast<std::size_t>(point));
    out.push_back('.');
    out += digits.substr(static_cast<std::size_t>(point));
  } else if (-6 < point && point <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-point), '0');
    out += digits;
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out += digits.substr(1);
    }
    out.push_back('e');
    out += point - 1 >= 0 ? "+" : "-";
    out += std::to_string(std::abs(point - 1));
  }
  return out;
}

std::optional<int> integer_part(double n) {
  if (!(n > -2147483649.0 && n < 2147483648.0)) return std::nullopt;  // NaN fails both
  return static_cast<int>(n);
}

}  // namespace awf::json
