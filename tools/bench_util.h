// SPDX-License-Identifier: Apache-2.0
// Small helpers shared by the benchmark tools: clocks in nanoseconds, the median, a process's
// host CPU time, and running a VMM with its console captured.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace bench {

inline int64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline std::optional<double> median(std::vector<double> values) {
    if (values.empty()) return std::nullopt;
    std::ranges::sort(values);
    size_t const n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/// Host CPU seconds a process (all its threads) has used so far: user + system time, without
/// the part of user time the kernel accounts as guest time (running guest code, not VMM code).
struct CpuSample {
    double host = 0;
    bool ok = false;
};

inline CpuSample cpu_of(pid_t pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto const close = text.rfind(')');
    if (close == std::string::npos) return {};
    std::istringstream fields(text.substr(close + 2));
    std::vector<std::string> f;
    for (std::string word; fields >> word;) f.push_back(word);
    // After "pid (comm) ": field 3 is f[0]; utime 14, stime 15, guest_time 43.
    if (f.size() < 41) return {};
    double const tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    double const utime = std::stod(f[14 - 3]) / tick;
    double const stime = std::stod(f[15 - 3]) / tick;
    double const guest = std::stod(f[43 - 3]) / tick;
    return {utime + stime - guest, true};
}

struct Run {
    int status = -1;             // exit status, 128 + signal, or -1 when it could not start
    std::string output;          // stdout and stderr, interleaved as written
    double exit_s = 0;           // spawn to exit
    double rusage_cpu_s = 0;     // user + system time of the whole run (wait4)
};

/// Called after each chunk of output: the child's pid, everything read so far, and the seconds
/// since the spawn.
using OnOutput = std::function<void(pid_t, std::string const&, double)>;

/// Spawns argv with stdin on /dev/null and stdout and stderr on one pipe, collects the output
/// (calling on_output after each chunk) until the pipe closes, and kills the process with
/// SIGKILL once timeout_s has passed.
inline Run run_captured(std::vector<std::string> const& argv, int timeout_s,
                        OnOutput const& on_output = {}) {
    Run run;
    int fds[2];
    if (argv.empty() || pipe2(fds, O_CLOEXEC) != 0) return run;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> args;
    for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    int64_t const start = now_ns();
    int const spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (spawned != 0) {
        close(fds[0]);
        run.output = fmt::format("cannot start {}", argv[0]);
        return run;
    }
    int64_t const deadline = start + int64_t{timeout_s} * 1'000'000'000;
    char buffer[4096];
    for (;;) {
        int64_t const left_ms = (deadline - now_ns()) / 1'000'000;
        if (left_ms <= 0) {
            kill(pid, SIGKILL);
            run.output += "\n[killed: timeout]\n";
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000))) <= 0) continue;
        ssize_t const n = read(fds[0], buffer, sizeof buffer);
        if (n <= 0) break;
        run.output.append(buffer, static_cast<size_t>(n));
        if (on_output) on_output(pid, run.output, (now_ns() - start) / 1e9);
    }
    close(fds[0]);
    int wstatus = 0;
    rusage usage{};
    wait4(pid, &wstatus, 0, &usage);
    run.exit_s = (now_ns() - start) / 1e9;
    run.rusage_cpu_s = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
                       usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
    run.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return run;
}

}  // namespace bench
