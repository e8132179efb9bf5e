// Request body rules: model prefix, BYOK extra fields, stream usage.
#include "body_rules.h"

#include "json_body.h"
#include "text.h"

namespace awf::api {

namespace {

bool has_body_semantics(std::string_view method) { return method == "POST" || method == "PUT" || method == "PATCH"; }

// /responses, /messages, /v<digits>/responses, /v<digits>/messages.
bool refuses_stream_options(std::string_view path) {
  if (path.size() > 2 && path[0] == '/' && path[1] == 'v' && path[2] >= '0' && path[2] <= '9') {
    std::size_t i = 2;
    while (i < path.size() && path[i] >= '0' && path[i] <= '9') ++i;
    path.remove_prefix(i);
  }
  return path == "/responses" || path == "/messages";
}

bool is_openai_compatible(Provider p) { return p != Provider::anthropic && p != Provider::gemini; }

// A body that starts like a JSON object: unreadable ones are not passed
// through unchecked when a model may be hiding in them.
bool looks_like_json_object(std::string_view body) {
  const auto first = body.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && body[first] == '{';
}

}  // namespace

BodyResult apply_body_rules(const ProviderConfig& config, std::string_view method, std::string_view path,
                            std::string_view body) {
  BodyResult out;
  if (!has_body_semantics(method)) return out;
  auto parsed = parse_json_object(body);
  if (!parsed) {
    if (looks_like_json_object(body)) out.model_state = BodyResult::Model::unreadable;
    return out;
  }
  auto& obj = parsed->object;

  if (auto* model = obj.if_contains("model"); model && model->is_string()) {
    const std::string_view name(model->get_string().data(), model->get_string().size());
    const std::string_view prefix = provider_name(config.provider);
    if (name.size() > prefix.size() + 1 && name[prefix.size()] == '/' && text::istarts_with(name, prefix)) {
      *model = boost::json::string(name.substr(prefix.size() + 1));
      out.changed = true;
    }
  }

  if (config.provider == Provider::copilot) {
    for (const auto& [field, value] : config.extra_body_fields) {
      if (!obj.contains(field)) {
        obj[field] = value;
        out.changed = true;
      }
    }
  }

  if (method == "POST" && is_openai_compatible(config.provider) && !refuses_stream_options(path)) {
    const auto* stream = obj.if_contains("stream");
    const bool streaming = stream && stream->is_bool() && stream->get_bool();
    const bool responses_shaped = obj.contains("input") && !obj.contains("messages");
    if (streaming && !responses_shaped) {
      if (auto* options = obj.if_contains("stream_options")) {
        if (options->is_object() && !options->get_object().contains("include_usage")) {
          options->get_object()["include_usage"] = true;
          out.changed = true;
        }
      } else {
        obj["stream_options"] = boost::json::object{{"include_usage", true}};
        out.changed = true;
      }
    }
  }

  if (parsed->model_keys > 1) {
    out.model_state = BodyResult::Model::unreadable;
  } else if (const auto* model = obj.if_contains("model")) {
    if (model->is_string()) {
      out.model_state = BodyResult::Model::named;
      out.model.assign(model->get_string().data(), model->get_string().size());
    } else {
      out.model_state = BodyResult::Model::unreadable;
    }
  }
  if (out.changed) out.body = write_json(obj);
  return out;
}

}  // namespace awf::api
