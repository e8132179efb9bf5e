// Request body rules (internal): the transforms applied to JSON object
// bodies of POST/PUT/PATCH requests, and what the body says the model is.
#pragma once

#include <string>
#include <string_view>

#include "awf/api/settings.h"

namespace awf::api {

struct BodyResult {
  enum class Model {
    absent,       // no top-level "model" (or the body is not a JSON object)
    named,        // one string "model": `model` holds it (after the prefix rule)
    unreadable,   // a JSON-looking body we could not read, a non-string model, or two "model" keys
  };
  Model model_state = Model::absent;
  std::string model;
  bool changed = false;
  std::string body;  // the new body when changed
};

// `path` is the client's path after normalisation (before the base path).
// The transforms, in order:
//   - `model` "<provider>/<rest>" (the route's own name, any case) -> "<rest>";
//   - Copilot: AWF_BYOK_EXTRA_BODY_FIELDS added where absent;
//   - POST with "stream": true on an OpenAI-compatible route gains
//     stream_options.include_usage = true when absent (not for Anthropic or
//     Gemini, not on /responses, /vN/responses, /messages, /vN/messages, not
//     for bodies with "input" and no "messages": those APIs refuse it).
// The body is written again only when a transform changed it.
BodyResult apply_body_rules(const ProviderConfig& config, std::string_view method, std::string_view path,
                            std::string_view body);

}  // namespace awf::api
