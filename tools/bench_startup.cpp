// SPDX-License-Identifier: Apache-2.0
// wisp-bench-startup: start-up cost of wisp next to QEMU's microvm machine on the same
// exit-at-once guest, over N runs. Measures, per VMM:
//   exec -> first KVM_RUN  wisp logs CLOCK_MONOTONIC at its first KVM_RUN (--log-level debug);
//                          QEMU's trace event kvm_run_exit stamps its first exit, which for this
//                          guest follows its first KVM_RUN within microseconds.
//   exec -> exit           wall time of the whole process.
//   RSS overhead           peak RSS (wait4) minus the guest RAM the host backed (wisp reports it
//                          with mincore at exit; the same guest touches the same pages in QEMU).
// Prints medians and wisp/QEMU ratios; writes the figures as JSON.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tools/bench_util.h"

extern char** environ;

namespace {

using bench::median;
using bench::now_ns;

struct Run {
    int status = -1;
    int64_t spawn_mono_ns = 0;
    int64_t spawn_real_ns = 0;
    int64_t exit_mono_ns = 0;
    long max_rss_kib = 0;
    std::string err;
};

std::string slurp(std::string const& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// posix_spawn (cheap, vfork-like): stdin and stdout /dev/null, stderr to a file.
Run spawn(std::vector<std::string> const& argv, std::string const& err_path) {
    Run run;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    std::vector<char*> args;
    for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    run.spawn_real_ns = now_ns(CLOCK_REALTIME);
    run.spawn_mono_ns = now_ns(CLOCK_MONOTONIC);
    if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return run;
    }
    posix_spawn_file_actions_destroy(&actions);
    int wstatus = 0;
    rusage usage{};
    wait4(pid, &wstatus, 0, &usage);
    run.exit_mono_ns = now_ns(CLOCK_MONOTONIC);
    run.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    run.max_rss_kib = usage.ru_maxrss;
    run.err = slurp(err_path);
    return run;
}

using Samples = std::map<std::string, std::vector<double>>;

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Start-up cost of wisp and QEMU microvm on an exit-at-once guest"};
    int runs = 20;
    std::string wisp, guest, qemu, json_path, host = "unknown";
    app.add_option("--runs", runs)->capture_default_str();
    app.add_option("--wisp", wisp)->required();
    app.add_option("--guest", guest, "PVH ELF that writes 0 to port 0xf4 at once")->required();
    app.add_option("--qemu", qemu, "qemu-system-x86_64 to compare with (optional)");
    app.add_option("--json", json_path, "Where to write the results");
    app.add_option("--host", host, "Description of the host, for the report");
    CLI11_PARSE(app, argc, argv);

    std::string const tmp = std::string(P_tmpdir) + "/wisp-bench-" + std::to_string(getpid());
    std::string const err_path = tmp + ".err", trace_path = tmp + ".trace";
    Samples w, q;
    std::string qemu_problem;
    std::regex const first_run(R"(first KVM_RUN at monotonic (\d+) ns)");
    std::regex const resident(R"(guest memory resident at exit: (\d+) KiB)");
    std::regex const trace_exit(R"(@(\d+)\.(\d{6}):kvm_run_exit)");
    for (int i = 0; i < runs; ++i) {
        Run r = spawn({wisp, "run", "--kernel", guest, "--console", "none", "--memory", "128M",
                       "--log-level", "debug"},
                      err_path);
        std::smatch m1, m2;
        if (r.status != 0 || !std::regex_search(r.err, m1, first_run) ||
            !std::regex_search(r.err, m2, resident)) {
            std::fprintf(stderr, "wisp run failed (status %d):\n%s", r.status, r.err.c_str());
            return 1;
        }
        double const guest_kib = std::stod(m2[1]);
        w["first_kvm_run_ms"].push_back((std::stoll(m1[1]) - r.spawn_mono_ns) / 1e6);
        w["exit_ms"].push_back((r.exit_mono_ns - r.spawn_mono_ns) / 1e6);
        w["peak_rss_kib"].push_back(static_cast<double>(r.max_rss_kib));
        w["rss_overhead_kib"].push_back(static_cast<double>(r.max_rss_kib) - guest_kib);
        if (qemu.empty()) continue;
        Run qr = spawn({qemu, "-M", "microvm,x-option-roms=off,rtc=off,isa-serial=off",
                        "-enable-kvm", "-cpu", "host", "-m", "128M", "-smp", "1", "-nodefaults",
                        "-no-user-config", "-display", "none", "-kernel", guest, "-device",
                        "isa-debug-exit,iobase=0xf4,iosize=4", "-trace", "enable=kvm_run_exit",
                        "-msg", "timestamp=on",
                        "-D", trace_path},
                       err_path);
        // isa-debug-exit makes the guest's 0 QEMU's 1, but QEMU also exits 1 when it fails to
        // start: only a run whose trace shows KVM exits counts.
        std::string const trace = slurp(trace_path);
        std::smatch mt;
        if (qr.status != 1 || !std::regex_search(trace, mt, trace_exit)) {
            qemu_problem = fmt::format("QEMU ended with status {} and no KVM exit traced: {}",
                                       qr.status, qr.err);
            continue;
        }
        int64_t const first = std::stoll(mt[1]) * 1'000'000'000 + std::stoll(mt[2]) * 1000;
        q["first_kvm_run_ms"].push_back((first - qr.spawn_real_ns) / 1e6);
        q["exit_ms"].push_back((qr.exit_mono_ns - qr.spawn_mono_ns) / 1e6);
        q["peak_rss_kib"].push_back(static_cast<double>(qr.max_rss_kib));
        q["rss_overhead_kib"].push_back(static_cast<double>(qr.max_rss_kib) - guest_kib);
    }
    std::remove(err_path.c_str());
    std::remove(trace_path.c_str());

    nlohmann::json result{{"host", host}, {"runs", runs}, {"wisp", {}}, {"qemu", {}}};
    std::printf("host: %s; %d runs; medians\n", host.c_str(), runs);
    std::printf("%-28s %12s %14s %8s\n", "", "wisp", "qemu microvm", "ratio");
    for (auto const& [key, label] :
         std::vector<std::pair<std::string, std::string>>{{"first_kvm_run_ms", "exec -> first KVM_RUN (ms)"},
                                                          {"exit_ms", "exec -> exit (ms)"},
                                                          {"rss_overhead_kib", "RSS overhead (KiB)"},
                                                          {"peak_rss_kib", "peak RSS (KiB)"}}) {
        auto const wm = median(w[key]);
        auto const qm = median(q[key]);
        if (wm) result["wisp"][key] = *wm;
        if (qm) result["qemu"][key] = *qm;
        std::string const ratio = wm && qm && *qm != 0 ? fmt::format("{:.2f}", *wm / *qm) : "-";
        std::printf("%-28s %12s %14s %8s\n", label.c_str(),
                    wm ? fmt::format("{:.2f}", *wm).c_str() : "-",
                    qm ? fmt::format("{:.2f}", *qm).c_str() : "-", ratio.c_str());
    }
    if (!qemu_problem.empty()) {
        std::printf("qemu: %s\n", qemu_problem.c_str());
        result["qemu_problem"] = qemu_problem;
    }
    if (!json_path.empty()) std::ofstream(json_path) << result.dump(2) << "\n";
    return 0;
}
