// SPDX-License-Identifier: Apache-2.0
// wisp-bench-block: virtio-blk request rate and host CPU cost, wisp (engine=sync and
// engine=io_uring) next to QEMU's microvm machine (virtio-blk-device, aio=threads and
// aio=io_uring), with the same image and the same freestanding guest
// (tests/guests/virtio_blk_bench.c): N 4 KiB reads, then N 4 KiB writes, QD in flight, at
// pseudo-random offsets. Per VMM and phase:
//   requests/s        N over the time between the guest's phase markers on the console.
//   host CPU/request  the VMM process's user + system time over the phase, less the time its
//                     vCPU spent running the guest (/proc/PID/stat utime + stime - guest_time,
//                     all threads), over N: the VMM's own cost of a request.
// and the process's whole user + system time (getrusage of the child, wait4). The guest polls
// the used ring, so its vCPU is busy throughout: that time is the guest's, not the VMM's.
// Prints medians and ratios to wisp sync; writes the figures as JSON.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tools/bench_util.h"


namespace {

using bench::median;

using bench::CpuSample;

struct Marker {
    std::string text;
    double at_s = 0;
    CpuSample cpu;
    bool seen = false;
};

struct Run {
    int status = -1;
    std::vector<Marker> markers;
    double rusage_cpu_s = 0;
    std::string output;
};

// Runs argv with its output captured; at the first output containing each marker, records the
// time and the process's host CPU time.
Run run_once(std::vector<std::string> const& argv, std::vector<std::string> const& markers,
             int timeout_s) {
    Run run;
    for (auto const& m : markers) run.markers.push_back({m});
    auto const captured = bench::run_captured(
        argv, timeout_s, [&](pid_t pid, std::string const& output, double elapsed_s) {
            for (Marker& m : run.markers) {
                if (m.seen || output.find(m.text) == std::string::npos) continue;
                m.seen = true;
                m.at_s = elapsed_s;
                m.cpu = bench::cpu_of(pid);
            }
        });
    run.status = captured.status;
    run.rusage_cpu_s = captured.rusage_cpu_s;
    run.output = captured.output;
    return run;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"virtio-blk request rate and host CPU: wisp (sync, io_uring) and QEMU microvm"};
    int runs = 3, timeout_s = 900;
    uint32_t n = 20000, qd = 8, image_mib = 64;
    std::string wisp, guest, qemu, json_path, dir = "/tmp", host = "unknown";
    app.add_option("--runs", runs)->capture_default_str();
    app.add_option("--wisp", wisp)->required();
    app.add_option("--guest", guest, "tests/guests/virtio_blk_bench.elf")->required();
    app.add_option("--qemu", qemu, "qemu-system-x86_64 to compare with (optional)");
    app.add_option("--requests", n, "4 KiB reads, and as many writes, per run")
        ->capture_default_str();
    app.add_option("--qd", qd, "Requests the guest keeps in flight (1-32)")->capture_default_str();
    app.add_option("--image-mib", image_mib, "Size of the disk image")->capture_default_str();
    app.add_option("--dir", dir, "Where the image is made")->capture_default_str();
    app.add_option("--timeout", timeout_s, "Seconds before a run is killed")->capture_default_str();
    app.add_option("--json", json_path, "Where to write the results");
    app.add_option("--host", host, "Description of the host, for the report");
    CLI11_PARSE(app, argc, argv);

    // One image for every VMM: written in full (no holes), so reads hit real data.
    std::string const image = dir + "/wisp-bench-block.img";
    {
        std::ofstream out(image, std::ios::binary | std::ios::trunc);
        std::vector<char> block(1 << 20);
        for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 131 + 7);
        for (uint32_t i = 0; i < image_mib; ++i) out.write(block.data(), block.size());
        if (!out) {
            std::fprintf(stderr, "cannot write %s\n", image.c_str());
            return 1;
        }
    }
    std::string const cmdline = fmt::format("bench.n={} bench.qd={}", n, qd);
    std::vector<std::string> const markers{"bench: reads start", "bench: reads done",
                                           "bench: writes done"};

    struct Vmm {
        std::string name;
        std::vector<std::string> argv;
        int ok;
    };
    std::vector<Vmm> vmms;
    for (std::string engine : {"sync", "io_uring"})
        vmms.push_back({"wisp " + engine,
                        {wisp, "run", "--kernel", guest, "--memory", "64M", "--cmdline", cmdline,
                         "--disk", image + ",engine=" + engine},
                        0});
    if (!qemu.empty())
        for (std::string aio : {"threads", "io_uring"})
            // isa-debug-exit turns the guest's 0 into QEMU's status 1. cache=writeback (the
            // default) goes through the host's page cache, as wisp does. acpi=off: only then
            // does microvm announce its virtio-mmio devices on the command line.
            vmms.push_back({"qemu " + aio,
                            {qemu,
                             "-M",
                             "microvm,x-option-roms=off,rtc=off,isa-serial=on,acpi=off",
                             "-enable-kvm",
                             "-cpu",
                             "host",
                             "-m",
                             "64M",
                             "-smp",
                             "1",
                             "-nodefaults",
                             "-no-user-config",
                             "-display",
                             "none",
                             "-serial",
                             "stdio",
                             "-kernel",
                             guest,
                             "-append",
                             cmdline,
                             "-global",
                             "virtio-mmio.force-legacy=false",
                             "-drive",
                             fmt::format("file={},if=none,id=d0,format=raw,aio={}", image, aio),
                             "-device",
                             "virtio-blk-device,drive=d0",
                             "-device",
                             "isa-debug-exit,iobase=0xf4,iosize=1",
                             "-no-reboot"},
                            1});

    // samples[vmm][metric]
    std::map<std::string, std::map<std::string, std::vector<double>>> samples;
    std::map<std::string, std::string> problems;
    for (int i = 0; i < runs; ++i) {
        for (Vmm const& vmm : vmms) {
            Run r = run_once(vmm.argv, markers, timeout_s);
            bool const all_seen = std::ranges::all_of(r.markers, [](auto& m) { return m.seen; });
            bool const cpu_ok = std::ranges::all_of(r.markers, [](auto& m) { return m.cpu.ok; });
            if (r.status != vmm.ok || !all_seen || !cpu_ok) {
                problems[vmm.name] =
                    fmt::format("status {} (expected {}), markers {}; output:\n{}", r.status,
                                vmm.ok, all_seen ? "seen" : "missing", r.output);
                std::fprintf(stderr, "%s: failed (status %d)\n", vmm.name.c_str(), r.status);
                continue;
            }
            double const reads_s = r.markers[1].at_s - r.markers[0].at_s;
            double const writes_s = r.markers[2].at_s - r.markers[1].at_s;
            double const reads_cpu = r.markers[1].cpu.host - r.markers[0].cpu.host;
            double const writes_cpu = r.markers[2].cpu.host - r.markers[1].cpu.host;
            auto& s = samples[vmm.name];
            s["read_iops"].push_back(n / reads_s);
            s["write_iops"].push_back(n / writes_s);
            s["read_cpu_us"].push_back(reads_cpu * 1e6 / n);
            s["write_cpu_us"].push_back(writes_cpu * 1e6 / n);
            s["rusage_cpu_s"].push_back(r.rusage_cpu_s);
            std::fprintf(stderr,
                         "%-14s reads %8.0f/s %6.1f us CPU; writes %8.0f/s %6.1f us CPU; "
                         "rusage %.2f s\n",
                         vmm.name.c_str(), n / reads_s, reads_cpu * 1e6 / n, n / writes_s,
                         writes_cpu * 1e6 / n, r.rusage_cpu_s);
        }
    }
    ::unlink(image.c_str());

    nlohmann::json result{{"host", host}, {"runs", runs},        {"requests", n},
                          {"qd", qd},     {"block_bytes", 4096}, {"image_mib", image_mib}};
    std::printf(
        "host: %s\n%u x 4 KiB reads then %u x 4 KiB writes, %u in flight; medians of %d "
        "runs; ratio: to wisp sync\n",
        host.c_str(), n, n, qd, runs);
    std::printf("%-30s", "");
    for (Vmm const& vmm : vmms) std::printf(" %14s", vmm.name.c_str());
    std::printf("\n");
    std::string const base = vmms.front().name;
    for (auto const& [key, label] : std::vector<std::pair<std::string, std::string>>{
             {"read_iops", "reads/s"},
             {"write_iops", "writes/s"},
             {"read_cpu_us", "host CPU per read (us)"},
             {"write_cpu_us", "host CPU per write (us)"},
             {"rusage_cpu_s", "process user+sys, whole run (s)"}}) {
        std::printf("%-30s", label.c_str());
        auto const b = median(samples[base][key]);
        for (Vmm const& vmm : vmms) {
            auto const m = median(samples[vmm.name][key]);
            if (m) result["results"][vmm.name][key] = *m;
            std::string cell = "-";
            if (m) {
                cell = *m >= 100 ? fmt::format("{:.0f}", *m) : fmt::format("{:.2f}", *m);
                if (b && *b != 0 && vmm.name != base) cell += fmt::format(" ({:.2f}x)", *m / *b);
            }
            std::printf(" %14s", cell.c_str());
        }
        std::printf("\n");
    }
    for (auto const& [who, problem] : problems) {
        std::printf("%s: last failure: %s\n", who.c_str(), problem.c_str());
        result["problems"][who] = problem;
    }
    if (!json_path.empty()) std::ofstream(json_path) << result.dump(2) << "\n";
    return samples[base]["read_iops"].empty() ? 1 : 0;
}
