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

struct ProcessOptions {
    std::optional<std::string> input;  // written to stdin, then closed; nullopt: /dev/null
    /// Once stdout contains this text, send `signal` (if non-zero) and write `later_input` to
    /// stdin (then close it). Event-driven: no sleeps.
    std::optional<std::string> signal_when_output;
    int signal = 0;
    std::optional<std::string> later_input;
    std::chrono::milliseconds timeout = std::chrono::seconds(60);  // then SIGKILL
};

ProcessResult run_process(std::vector<std::string> const& argv, ProcessOptions const& options);

inline ProcessResult run_process(std::vector<std::string> const& argv,
                                 std::optional<std::string> const& input = std::nullopt) {
    ProcessOptions options;
    options.input = input;
    return run_process(argv, options);
}

}  // namespace vmm::test
