// Naming the unknown option and the known one it was probably meant to be.
#include "awf/cli/unknown_option.h"

#include <CLI/CLI.hpp>
#include <algorithm>

namespace awf::cli {
namespace {

constexpr std::size_t kMaxDistance = 3;
constexpr double kMinSimilarity = 0.4;

// Optimal string alignment distance: insertions, deletions, substitutions
// and swaps of two adjacent characters, each costing 1 (what commander's
// editDistance computes).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string_view without_dashes(std::string_view s) {
  while (s.starts_with('-')) s.remove_prefix(1);
  return s;
}

// The subcommand whose options were being parsed last.
const CLI::App* deepest_parsed(const CLI::App& app) {
  const CLI::App* at = &app;
  for (bool descended = true; descended;) {
    descended = false;
    for (const CLI::App* sub : at->get_subcommands()) {
      if (sub->parsed()) {
        at = sub;
        descended = true;
        break;
      }
    }
  }
  return at;
}

}  // namespace

std::vector<std::string> similar_options(std::string_view word, const std::vector<std::string>& candidates) {
  const bool is_long = word.starts_with("--");
  const std::string_view bare = is_long ? without_dashes(word) : word;
  std::vector<std::string> best;
  std::size_t best_distance = kMaxDistance;
  for (const auto& candidate : candidates) {
    const std::string_view c = is_long ? without_dashes(candidate) : std::string_view(candidate);
    if (c.size() <= 1) continue;  // no one-letter guesses
    const std::size_t distance = edit_distance(bare, c);
    const std::size_t length = std::max(bare.size(), c.size());
    const double similarity = static_cast<double>(length - std::min(distance, length)) / static_cast<double>(length);
    if (similarity <= kMinSimilarity) continue;
    if (distance < best_distance) {
      best_distance = distance;
      best = {candidate};
    } else if (distance == best_distance && std::find(best.begin(), best.end(), candidate) == best.end()) {
      best.push_back(candidate);
    }
  }
  std::sort(best.begin(), best.end());
  return best;
}

std::optional<std::string> unknown_option_message(const CLI::App& app) {
  std::optional<std::string> word;
  for (const auto& arg : app.remaining(true)) {
    if (arg.size() > 1 && arg.front() == '-' && arg != "--") {
      word = arg.substr(0, arg.find('='));
      break;
    }
  }
  if (!word) return std::nullopt;
  std::string message = "unknown option '" + *word + "'";
  // commander suggests only for long options; so do we.
  if (!word->starts_with("--")) return message;
  std::vector<std::string> known;
  for (const CLI::Option* option : deepest_parsed(app)->get_options()) {
    if (option->get_group().empty()) continue;  // hidden: deprecated or refused spellings
    for (const auto& name : option->get_lnames()) known.push_back("--" + name);
  }
  const auto similar = similar_options(*word, known);
  if (similar.size() == 1) {
    message += "\n(Did you mean " + similar.front() + "?)";
  } else if (similar.size() > 1) {
    std::string list;
    for (const auto& s : similar) list += (list.empty() ? "" : ", ") + s;
    message += "\n(Did you mean one of " + list + "?)";
  }
  return message;
}

}  // namespace awf::cli
