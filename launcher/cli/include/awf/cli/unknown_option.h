// The message for a word on the command line that no option knows: the word
// and the nearest known option, in commander's words (awf's CLI library), so
// a typo reads `unknown option '--alow-domains'` with `(Did you mean
// --allow-domains?)` instead of CLI11's list of unexpected arguments.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace awf::cli {

// Commander's suggestion rule: the candidates within Damerau-Levenshtein
// distance 3 whose similarity ((longer length - distance) / longer length)
// is above 0.4, keeping only those at the smallest distance, sorted; `--`
// prefixes are compared without the dashes. Empty when none is close.
std::vector<std::string> similar_options(std::string_view word, const std::vector<std::string>& candidates);

// After CLI11 refused extra arguments: the first one that looks like an
// option (`-x`, `--name`, `--name=value`; not `--` itself), as
//   unknown option '--alow-domains'
//   (Did you mean --allow-domains?)
// (the second line only when a long option is close). Candidates are the long
// options of the deepest subcommand that was parsed (`awf logs stats` knows
// its own). nullopt when no extra argument looks like an option, so the
// caller prints CLI11's own message.
std::optional<std::string> unknown_option_message(const CLI::App& app);

}  // namespace awf::cli
