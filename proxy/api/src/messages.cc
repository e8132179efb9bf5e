// Header look-ups on the plain message structs.
#include "awf/api/messages.h"

#include "text.h"

namespace awf::api {

const std::string* find_header(const std::vector<Header>& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (text::iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::vector<std::string> header_values(const std::vector<Header>& headers, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& h : headers) {
    if (text::iequals(h.name, name)) out.push_back(h.value);
  }
  return out;
}

}  // namespace awf::api
