// SPDX-License-Identifier: Apache-2.0
// wisp-bench-api: the API socket's costs, measured from a client (cpp-httplib) of a real wisp:
//   GET / rate         REQUESTS sequential GET / on one kept-alive connection: requests/s and
//                      the median latency. Needs no KVM (the API answers before any guest).
//   InstanceStart -> marker  (with --kernel) PUT /boot-source and /machine-config, then the
//                      time from sending InstanceStart to the guest's first console line of the
//                      project's /init ("wisp guest: ..."); needs KVM.
// Prints a table and writes the figures as JSON.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tools/bench_util.h"

extern char** environ;

namespace {

using bench::median;
using bench::now_ns;

struct Wisp {
    pid_t pid = -1;
    int output = -1;  // the VMM's stdout and stderr
    std::string buffered;
};

Wisp spawn(std::vector<std::string> const& argv) {
    Wisp wisp;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return wisp;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> args;
    for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn(&wisp.pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    wisp.output = fds[0];
    return wisp;
}

/// Reads the VMM's output until `text` appears (true) or `timeout_ms` passes (false). With
/// `text` empty, until the socket exists.
bool wait_output(Wisp& wisp, std::string const& text, int timeout_ms) {
    int64_t const deadline = now_ns() + int64_t{timeout_ms} * 1'000'000;
    while (wisp.buffered.find(text) == std::string::npos) {
        int64_t const left = (deadline - now_ns()) / 1'000'000;
        if (left <= 0) return false;
        pollfd fd{wisp.output, POLLIN, 0};
        if (poll(&fd, 1, static_cast<int>(left)) <= 0) return false;
        char buffer[4096];
        ssize_t const n = read(wisp.output, buffer, sizeof buffer);
        if (n <= 0) return false;
        wisp.buffered.append(buffer, static_cast<size_t>(n));
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"wisp-bench-api: API request rate and InstanceStart -> guest marker"};
    std::string wisp_path, kernel, initrd, json_path, host = "unknown host";
    int requests = 1000;
    app.add_option("--wisp", wisp_path, "The wisp binary (wisp-api next to it)")->required();
    app.add_option("--requests", requests, "GET / requests to time")->capture_default_str();
    app.add_option("--kernel", kernel, "A vmlinux: also time InstanceStart -> the init marker");
    app.add_option("--initrd", initrd, "The project's initramfs (with --kernel)");
    app.add_option("--host", host, "What kind of host this is, for the record");
    app.add_option("--json", json_path, "Write the results here");
    CLI11_PARSE(app, argc, argv);

    char dir_template[] = "/tmp/wisp-bench-api.XXXXXX";
    if (!mkdtemp(dir_template)) return 1;
    std::string const dir = dir_template;
    std::string const socket = dir + "/api.sock";
    // The API logs "serving the API on PATH" once the socket listens.
    Wisp wisp = spawn({wisp_path, "--api-sock", socket, "--id", "bench", "--level", "Info"});
    if (!wait_output(wisp, "serving the API on", 20000)) {
        std::fprintf(stderr, "wisp-bench-api: the API socket never came up:\n%s\n",
                     wisp.buffered.c_str());
        kill(wisp.pid, SIGKILL);
        return 1;
    }
    httplib::Client client(socket);
    client.set_address_family(AF_UNIX);
    client.set_keep_alive(true);
    std::vector<double> latencies_us;
    int failures = 0;
    int64_t const start = now_ns();
    for (int i = 0; i < requests; ++i) {
        int64_t const t0 = now_ns();
        auto reply = client.Get("/");
        latencies_us.push_back(static_cast<double>(now_ns() - t0) / 1e3);
        if (!reply || reply->status != 200) ++failures;
    }
    double const seconds = static_cast<double>(now_ns() - start) / 1e9;
    double const rate = requests / seconds;

    std::optional<double> start_to_marker_ms;
    if (!kernel.empty()) {
        nlohmann::json boot{{"kernel_image_path", kernel},
                            {"boot_args", "console=ttyS0 reboot=k panic=-1 pci=off quiet"}};
        if (!initrd.empty()) boot["initrd_path"] = initrd;
        client.Put("/boot-source", boot.dump(), "application/json");
        client.Put("/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 256})",
                   "application/json");
        int64_t const t0 = now_ns();
        auto started = client.Put("/actions", R"({"action_type": "InstanceStart"})",
                                  "application/json");
        if (started && started->status == 204 && wait_output(wisp, "wisp guest:", 600000))
            start_to_marker_ms = static_cast<double>(now_ns() - t0) / 1e6;
        else
            std::fprintf(stderr, "wisp-bench-api: InstanceStart did not reach the marker (%s)\n",
                         started ? started->body.c_str() : "no answer");
    }
    kill(wisp.pid, SIGTERM);
    int status = 0;
    waitpid(wisp.pid, &status, 0);
    rmdir(dir.c_str());

    fmt::print("API benchmark ({})\n", host);
    fmt::print("| measure | value |\n|---|---|\n");
    fmt::print("| GET / over {} requests (one connection) | {:.0f} requests/s |\n", requests, rate);
    fmt::print("| GET / median latency | {:.1f} µs |\n", median(latencies_us).value_or(0));
    fmt::print("| failed requests | {} |\n", failures);
    if (!kernel.empty())
        fmt::print("| InstanceStart -> init marker | {} |\n",
                   start_to_marker_ms ? fmt::format("{:.0f} ms", *start_to_marker_ms)
                                      : std::string("not reached"));
    nlohmann::json result{{"host", host},
                          {"requests", requests},
                          {"get_root_requests_per_second", rate},
                          {"get_root_median_latency_us", median(latencies_us).value_or(0)},
                          {"failed_requests", failures}};
    if (start_to_marker_ms) result["instance_start_to_marker_ms"] = *start_to_marker_ms;
    if (!json_path.empty()) std::ofstream(json_path) << result.dump(2) << "\n";
    return failures == 0 ? 0 : 1;
}
