// Drives one load (see Mode) through a proxy, and the origins it can target: a
// small echo server and the fake SSE provider of the API proxy benchmark.
#pragma once

#include <chrono>

#include "options.h"
#include "report.h"

namespace awf::loadgen {

// Runs the load described by opts to completion (duration or request cap) and
// returns what happened. Blocks the calling thread.
Report run_load(const Options& opts);

// Serves a TCP echo on listen until SIGINT/SIGTERM or, when run_for is not
// zero, until run_for has passed. Returns a process exit code.
int serve_echo(const Endpoint& listen, std::chrono::milliseconds run_for);

// Serves HTTPS on opts.listen: POST .../chat/completions answers with an SSE
// stream (text/event-stream, chunked): the first event with the response head,
// then `events` more, `interval_ms` apart, then "data: [DONE]". A request's
// X-Bench-Events / X-Bench-Interval-Ms headers override the two defaults.
// Keep-alive is honoured. Anything else is a 404. Runs until SIGINT/SIGTERM or
// run_for; returns a process exit code.
int serve_sse(const SseServerOptions& opts);

}  // namespace awf::loadgen
