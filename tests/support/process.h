// SPDX-License-Identifier: Apache-2.0
// Runs a program (the real wisp binary) with given stdin and collects its output and status.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace vmm::test {

struct ProcessResult {
    int status = -1;          // exit status, or 128 + signal
    bool timed_out = false;   // killed after the deadline: a hang is a failure, not a wait
    std::string out;
    std::string err;
};

/// Runs argv[0] with argv; writes `input` to its stdin then closes it (stdin is /dev/null
/// when input is nullopt). Kills it with SIGKILL after `timeout`.
ProcessResult run_process(std::vector<std::string> const& argv,
                          std::optional<std::string> const& input = std::nullopt,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace vmm::test
