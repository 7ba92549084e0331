// SPDX-License-Identifier: Apache-2.0
// wisp-bench-boot: Linux boot time under wisp next to QEMU's microvm machine, same kernel,
// initramfs, command line and memory, over N runs. Measures, per VMM:
//   exec -> init marker   the first console line of the project's /init ("wisp guest: ...").
//   exec -> exit          the guest runs `true` and its /init ends the VM through the exit
//                         device at port 0xf4 (QEMU: isa-debug-exit at the same port).
// Prints medians and wisp/QEMU ratios; writes the figures as JSON.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tools/bench_util.h"


namespace {

using bench::median;

struct Run {
    int status = -1;
    std::optional<double> marker_ms;
    double exit_ms = 0;
    std::string output;
};

// Runs argv with its output captured; timestamps the first output containing `marker`.
Run run_once(std::vector<std::string> const& argv, std::string const& marker, int timeout_s) {
    Run run;
    auto const captured = bench::run_captured(
        argv, timeout_s, [&](pid_t, std::string const& output, double elapsed_s) {
            if (!run.marker_ms && output.find(marker) != std::string::npos)
                run.marker_ms = elapsed_s * 1e3;
        });
    run.status = captured.status;
    run.exit_ms = captured.exit_s * 1e3;
    run.output = captured.output;
    return run;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Linux boot time under wisp and QEMU microvm"};
    int runs = 5, timeout_s = 900;
    std::string wisp, kernel, initrd, qemu, json_path, host = "unknown", memory = "256M";
    std::string marker = "wisp guest: ";
    app.add_option("--runs", runs)->capture_default_str();
    app.add_option("--wisp", wisp)->required();
    app.add_option("--kernel", kernel, "vmlinux with a PVH note (both VMMs boot it)")->required();
    app.add_option("--initrd", initrd)->required();
    app.add_option("--qemu", qemu, "qemu-system-x86_64 to compare with (optional)");
    app.add_option("--memory", memory)->capture_default_str();
    app.add_option("--marker", marker, "Console text that marks init")->capture_default_str();
    app.add_option("--timeout", timeout_s, "Seconds before a run is killed")->capture_default_str();
    app.add_option("--json", json_path, "Where to write the results");
    app.add_option("--host", host, "Description of the host, for the report");
    CLI11_PARSE(app, argc, argv);

    std::string const cmdline = "console=ttyS0 reboot=k panic=-1 pci=off quiet wisp.cmd=true";
    std::map<std::string, std::map<std::string, std::vector<double>>> samples;
    std::map<std::string, std::string> problems;
    auto measure = [&](std::string const& who, std::vector<std::string> const& command, int ok) {
        Run r = run_once(command, marker, timeout_s);
        if (r.status != ok || !r.marker_ms) {
            problems[who] = fmt::format("status {} (expected {}), marker {}; output:\n{}", r.status,
                                        ok, r.marker_ms ? "seen" : "not seen", r.output);
            return;
        }
        samples[who]["init_marker_ms"].push_back(*r.marker_ms);
        samples[who]["exit_ms"].push_back(r.exit_ms);
        std::fprintf(stderr, "%s: init %.1f ms, exit %.1f ms\n", who.c_str(), *r.marker_ms,
                     r.exit_ms);
    };
    for (int i = 0; i < runs; ++i) {
        measure("wisp",
                {wisp, "run", "--kernel", kernel, "--initrd", initrd, "--memory", memory,
                 "--cmdline", cmdline},
                0);
        if (qemu.empty()) continue;
        // isa-debug-exit turns the guest's 0 into QEMU's status 1.
        measure("qemu",
                {qemu, "-M", "microvm,x-option-roms=off,rtc=on,isa-serial=on", "-enable-kvm", "-cpu",
                 "host", "-m", memory, "-smp", "1", "-nodefaults", "-no-user-config", "-display",
                 "none", "-serial", "stdio", "-kernel", kernel, "-initrd", initrd, "-append",
                 cmdline, "-device", "isa-debug-exit,iobase=0xf4,iosize=1", "-no-reboot"},
                1);
    }

    nlohmann::json result{{"host", host}, {"runs", runs}, {"memory", memory}};
    std::printf("host: %s; %d runs; medians\n", host.c_str(), runs);
    std::printf("%-26s %12s %14s %8s\n", "", "wisp", "qemu microvm", "ratio");
    for (auto const& [key, label] : std::vector<std::pair<std::string, std::string>>{
             {"init_marker_ms", "exec -> init (ms)"}, {"exit_ms", "exec -> exit (ms)"}}) {
        auto const wm = median(samples["wisp"][key]);
        auto const qm = median(samples["qemu"][key]);
        if (wm) result["wisp"][key] = *wm;
        if (qm) result["qemu"][key] = *qm;
        std::string const ratio = wm && qm && *qm != 0 ? fmt::format("{:.2f}", *wm / *qm) : "-";
        std::printf("%-26s %12s %14s %8s\n", label.c_str(),
                    wm ? fmt::format("{:.1f}", *wm).c_str() : "-",
                    qm ? fmt::format("{:.1f}", *qm).c_str() : "-", ratio.c_str());
    }
    for (auto const& [who, problem] : problems) {
        std::printf("%s: last failure: %s\n", who.c_str(), problem.c_str());
        result[who + "_problem"] = problem;
    }
    if (!json_path.empty()) std::ofstream(json_path) << result.dump(2) << "\n";
    return samples["wisp"]["exit_ms"].empty() ? 1 : 0;
}
