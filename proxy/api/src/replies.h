// The replies the API proxy makes itself (internal): JSON bodies with
// Content-Type and X-Request-ID.
#pragma once

#include <optional>
#include <string_view>

#include "awf/api/messages.h"
#include "awf/api/model_policy.h"
#include "awf/api/settings.h"

namespace awf::api {

LocalReply health_reply(const ProviderSettings& settings, Provider provider, std::string_view request_id);
LocalReply not_configured_reply(Provider provider, std::string_view request_id);
LocalReply bad_target_reply(std::string_view request_id);
LocalReply policy_reply(const PolicyVerdict& verdict, const std::optional<std::string>& model,
                        std::string_view request_id);

}  // namespace awf::api
