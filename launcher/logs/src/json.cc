// JSON parsing and JSON.stringify-compatible writing for the log tools.
#include "awf/logs/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace awf::json {

Value::Value(Array a) : kind_(Kind::array), array_(std::make_shared<Array>(std::move(a))) {}
Value::Value(Object o) : kind_(Kind::object), object_(std::make_shared<Object>(std::move(o))) {}

namespace {
const Array& empty_array() {
  static const Array a;
  return a;
}
const Object& empty_object() {
  static const Object o;
  return o;
}
}  // namespace

const Array& Value::as_array() const { return array_ ? *array_ : empty_array(); }
const Object& Value::as_object() const { return object_ ? *object_ : empty_object(); }
Array& Value::as_array() {
  if (!array_) array_ = std::make_shared<Array>();
  return *array_;
}
Object& Value::as_object() {
  if (!object_) object_ = std::make_shared<Object>();
  return *object_;
}

const Value* Value::find(std::string_view key) const {
  if (kind_ != Kind::object || !object_) return nullptr;
  // Duplicate keys: the last one wins, as in JSON.parse.
  const Value* found = nullptr;
  for (const auto& [k, v] : *object_) {
    if (k == key) found = &v;
  }
  return found;
}

Value& Value::set(std::string key, Value v) {
  kind_ = Kind::object;
  auto& members = as_object();
  for (auto& [k, existing] : members) {
    if (k == key) {
      existing = std::move(v);
      return existing;
    }
  }
  members.emplace_back(std::move(key), std::move(v));
  return members.back().second;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<Value> document() {
    skip_ws();
    Value v;
    if (!value(v, 0)) return fail();
    skip_ws();
    if (pos_ != text_.size()) return fail();
    return v;
  }

 private:
  static constexpr int kMaxDepth = 256;  // nesting limit: input may be hostile

  Error fail() const {
    if (pos_ >= text_.size()) return Error{"Unexpected end of JSON input"};
    return Error{"Unexpected token at position " + std::to_string(pos_)};
  }

  void skip_ws() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool value(Value& out, int depth) {
    if (depth > kMaxDepth || pos_ >= text_.size()) return false;
    char c = text_[pos_];
    if (c == '{') return object(out, depth + 1);
    if (c == '[') return array(out, depth + 1);
    if (c == '"') {
      std::string s;
      if (!string(s)) return false;
      out = Value(std::move(s));
      return true;
    }
    if (c == 't') {
      if (!literal("true")) return false;
      out = Value(true);
      return true;
    }
    if (c == 'f') {
      if (!literal("false")) return false;
      out = Value(false);
      return true;
    }
    if (c == 'n') {
      if (!literal("null")) return false;
      out = Value(nullptr);
      return true;
    }
    return number(out);
  }

  bool number(Value& out) {
    std::size_t start = pos_;
    auto digit = [&](std::size_t i) { return i < text_.size() && text_[i] >= '0' && text_[i] <= '9'; };
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    if (!digit(pos_)) return false;
    if (text_[pos_] == '0') {
      ++pos_;
    } else {
      while (digit(pos_)) ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (!digit(pos_)) return false;
      while (digit(pos_)) ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digit(pos_)) return false;
      while (digit(pos_)) ++pos_;
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, d);
    if (ec == std::errc::result_out_of_range) {
      d = text_[start] == '-' ? -HUGE_VAL : HUGE_VAL;
    } else if (ec != std::errc() || ptr != text_.data() + pos_) {
      pos_ = start;
      return false;
    }
    out = Value(d);
    return true;
  }

  static void append_utf8(std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool hex4(std::uint32_t& out) {
    if (pos_ + 4 > text_.size()) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9') {
        out |= static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        out |= static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        out |= static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  bool string(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;  // raw control characters are invalid
      if (c != '\\') {
        out.push_back(c);
        ++pos_;
        continue;
      }
      if (++pos_ >= text_.size()) return false;
      char e = text_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && text_.substr(pos_, 2) == "\\u") {
            std::size_t save = pos_;
            pos_ += 2;
            std::uint32_t low = 0;
            if (hex4(low) && low >= 0xDC00 && low < 0xE000) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = save;
            }
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  bool array(Value& out, int depth) {
    ++pos_;
    Array items;
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      out = Value(std::move(items));
      return true;
    }
    while (true) {
      skip_ws();
      Value v;
      if (!value(v, depth)) return false;
      items.push_back(std::move(v));
      skip_ws();
      if (pos_ >= text_.size()) return false;
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == ']') {
        ++pos_;
        out = Value(std::move(items));
        return true;
      }
      return false;
    }
  }

  bool object(Value& out, int depth) {
    ++pos_;
    Object members;
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      out = Value(std::move(members));
      return true;
    }
    while (true) {
      skip_ws();
      if (pos_ >= text_.size() || text_[pos_] != '"') return false;
      std::string key;
      if (!string(key)) return false;
      skip_ws();
      if (pos_ >= text_.size() || text_[pos_] != ':') return false;
      ++pos_;
      skip_ws();
      Value v;
      if (!value(v, depth)) return false;
      members.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (pos_ >= text_.size()) return false;
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (text_[pos_] == '}') {
        ++pos_;
        out = Value(std::move(members));
        return true;
      }
      return false;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

void write(std::string& out, const Value& v, int indent, int level) {
  auto newline = [&](int lvl) {
    if (indent <= 0) return;
    out.push_back('\n');
    out.append(static_cast<std::size_t>(indent * lvl), ' ');
  };
  switch (v.kind()) {
    case Value::Kind::null: out += "null"; break;
    case Value::Kind::boolean: out += v.as_bool() ? "true" : "false"; break;
    case Value::Kind::number: out += number_to_string(v.as_number()); break;
    case Value::Kind::string: out += quote(v.as_string()); break;
    case Value::Kind::array: {
      const auto& items = v.as_array();
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
    case Value::Kind::object: {
      const auto& members = v.as_object();
      if (members.empty()) {
        out += "{}";
        break;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& [k, member] : members) {
        if (!first) out.push_back(',');
        first = false;
        newline(level + 1);
        out += quote(k);
        out += indent > 0 ? ": " : ":";
        write(out, member, indent, level + 1);
      }
      newline(level);
      out.push_back('}');
      break;
    }
  }
}

}  // namespace

Result<Value> parse(std::string_view text) { return Parser(text).document(); }

std::string stringify(const Value& value, int indent) {
  std::string out;
  write(out, value, indent, 0);
  return out;
}

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

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

}  // namespace awf::json
