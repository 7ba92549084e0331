// SPDX-License-Identifier: Apache-2.0
// wisp-bench-net: iperf3 between the project's Linux guest and the host over a tap, wisp's
// virtio-net next to QEMU's microvm machine with its user-space virtio-net (virtio-net-device on
// a tap netdev, vhost=off), with the same kernel, initramfs (scripts/guest-initramfs-net),
// memory, MAC and command line. The tap (given with --tap) must exist, up, with --server-ip on
// it; this tool runs `iperf3 -s` on the host for each boot. The guest (guest/net/run) runs
// iperf3's client for a fixed time in each direction, guest to host and then host to guest
// (-R), each between NET-BEGIN and NET-END lines on its console. Per VMM and direction:
//   Mbit/s           iperf3's figure for the bytes received (10^6 bits per second).
//   VMM CPU s/GB     the VMM process's user + system time between the two lines, less the time
//                    its vCPU spent running the guest (/proc/PID/stat utime + stime -
//                    guest_time, all threads), over the gigabytes (10^9 bytes) received.
// Prints medians over the runs with wisp/QEMU ratios; writes them as JSON with every run's
// figures (also the bytes, the seconds between the markers and the VMM CPU seconds in them).
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tools/bench_util.h"


namespace {

using bench::median;

std::vector<std::string> const kDirections{"guest-to-host", "host-to-guest"};

struct Mark {
    double at_s = 0;
    bench::CpuSample cpu;
    bool seen = false;
};

// What a run showed: per direction the last NET-BEGIN (an attempt the guest retried is
// superseded) and the NET-END after it.
struct Run {
    int status = -1;
    double rusage_cpu_s = 0;
    std::string output;
    std::map<std::string, Mark> begin, end;
};

Run run_once(std::vector<std::string> const& argv, int timeout_s) {
    Run run;
    size_t scanned = 0;  // output up to here has been looked at, whole lines only
    auto const captured = bench::run_captured(
        argv, timeout_s, [&](pid_t pid, std::string const& output, double elapsed_s) {
            for (size_t nl; (nl = output.find('\n', scanned)) != std::string::npos;
                 scanned = nl + 1) {
                std::string line = output.substr(scanned, nl - scanned);
                std::erase(line, '\r');
                for (auto const& [prefix, marks] :
                     {std::pair{std::string("NET-BEGIN "), &run.begin},
                      std::pair{std::string("NET-END "), &run.end}}) {
                    if (!line.starts_with(prefix)) continue;
                    std::string const dir = line.substr(prefix.size());
                    (*marks)[dir] = {elapsed_s, bench::cpu_of(pid), true};
                }
            }
        });
    run.status = captured.status;
    run.rusage_cpu_s = captured.rusage_cpu_s;
    run.output = captured.output;
    return run;
}

// iperf3's JSON report for one direction (between the markers, carriage returns removed).
std::optional<nlohmann::json> iperf_report(std::string const& output, std::string const& dir) {
    std::string const begin = "NET-JSON-BEGIN " + dir, end = "NET-JSON-END " + dir;
    auto const b = output.find(begin);
    if (b == std::string::npos) return std::nullopt;
    auto const e = output.find(end, b);
    if (e == std::string::npos) return std::nullopt;
    std::string text = output.substr(b + begin.size(), e - b - begin.size());
    std::erase(text, '\r');
    auto report = nlohmann::json::parse(text, nullptr, false);
    if (report.is_discarded()) return std::nullopt;
    return report;
}

// `iperf3 -s` on the host, its output discarded; killed when the object goes.
class IperfServer {
public:
    explicit IperfServer(std::string const& iperf3, std::string const& bind) {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        std::vector<std::string> argv{iperf3, "-s", "-B", bind};
        std::vector<char*> args;
        for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) pid_ = 0;
        posix_spawn_file_actions_destroy(&actions);
    }
    IperfServer(IperfServer const&) = delete;
    IperfServer& operator=(IperfServer const&) = delete;
    ~IperfServer() {
        if (pid_ <= 0) return;
        kill(pid_, SIGKILL);  // it has nothing to save, and must not hold the next run up
        waitpid(pid_, nullptr, 0);
    }
    // Still running (it quits at once when it cannot bind the address).
    bool running() {
        if (pid_ <= 0) return false;
        if (waitpid(pid_, nullptr, WNOHANG) == 0) return true;
        pid_ = 0;
        return false;
    }

private:
    pid_t pid_ = 0;
};

std::string cell_of(std::optional<double> m, std::optional<double> base, bool ratio) {
    if (!m) return "-";
    std::string cell = *m >= 100 ? fmt::format("{:.0f}", *m) : fmt::format("{:.2f}", *m);
    if (ratio && base && *base != 0) cell += fmt::format(" ({:.2f}x)", *m / *base);
    return cell;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"iperf3 guest<->host over a tap: wisp and QEMU microvm (virtio-net, vhost=off)"};
    int runs = 1, timeout_s = 900, seconds = 5;
    std::string wisp, kernel, initrd, qemu, iperf3 = "/usr/bin/iperf3", json_path;
    std::string host = "unknown", memory = "256M", tap = "wtap0";
    std::string server_ip = "10.0.3.1", guest_ip = "10.0.3.2/24", mac = "52:54:00:12:34:56";
    app.add_option("--runs", runs)->capture_default_str();
    app.add_option("--wisp", wisp)->required();
    app.add_option("--kernel", kernel, "vmlinux with a PVH note (both VMMs boot it)")->required();
    app.add_option("--initrd", initrd, "scripts/guest-initramfs-net's initramfs")->required();
    app.add_option("--qemu", qemu, "qemu-system-x86_64 to compare with (optional)");
    app.add_option("--iperf3", iperf3, "iperf3 for the host's server")->capture_default_str();
    app.add_option("--tap", tap, "An existing tap, up, with --server-ip on it")
        ->capture_default_str();
    app.add_option("--server-ip", server_ip, "The host's address on the tap")->capture_default_str();
    app.add_option("--guest-ip", guest_ip, "The guest's address/prefix")->capture_default_str();
    app.add_option("--mac", mac, "The guest's MAC (both VMMs)")->capture_default_str();
    app.add_option("--memory", memory)->capture_default_str();
    app.add_option("--seconds", seconds, "iperf3's -t, per direction")->capture_default_str();
    app.add_option("--timeout", timeout_s, "Seconds before a run is killed")->capture_default_str();
    app.add_option("--json", json_path, "Where to write the results");
    app.add_option("--host", host, "Description of the host, for the report");
    CLI11_PARSE(app, argc, argv);

    std::string const cmdline = fmt::format(
        "console=ttyS0 reboot=k panic=-1 pci=off quiet wisp.cmd=/etc/net/run net.guest={} "
        "net.server={} net.time={}",
        guest_ip, server_ip, seconds);

    struct Vmm {
        std::string name;
        std::vector<std::string> argv;
        int ok;
    };
    std::vector<Vmm> vmms;
    vmms.push_back({"wisp",
                    {wisp, "run", "--kernel", kernel, "--initrd", initrd, "--memory", memory,
                     "--cmdline", cmdline, "--net", fmt::format("tap={},mac={}", tap, mac)},
                    0});
    if (!qemu.empty())
        // isa-debug-exit turns the guest's 0 into QEMU's status 1. acpi=off: only then does
        // microvm announce its virtio-mmio devices on the command line. vhost=off: QEMU's own
        // virtio-net in user space, as wisp's is; the tap's offloads are QEMU's defaults.
        vmms.push_back({"qemu",
                        {qemu,
                         "-M",
                         "microvm,x-option-roms=off,rtc=on,isa-serial=on,acpi=off",
                         "-enable-kvm",
                         "-cpu",
                         "host",
                         "-m",
                         memory,
                         "-smp",
                         "1",
                         "-nodefaults",
                         "-no-user-config",
                         "-display",
                         "none",
                         "-serial",
                         "stdio",
                         "-kernel",
                         kernel,
                         "-initrd",
                         initrd,
                         "-append",
                         cmdline,
                         "-global",
                         "virtio-mmio.force-legacy=false",
                         "-netdev",
                         fmt::format("tap,id=n0,ifname={},script=no,downscript=no,vhost=off", tap),
                         "-device",
                         fmt::format("virtio-net-device,netdev=n0,mac={}", mac),
                         "-device",
                         "isa-debug-exit,iobase=0xf4,iosize=1",
                         "-no-reboot"},
                        1});

    // samples[vmm][metric]
    std::map<std::string, std::map<std::string, std::vector<double>>> samples;
    std::map<std::string, std::string> problems;
    for (int i = 0; i < runs; ++i) {
        // Every other run starts with the other VMM, so neither always goes first.
        std::vector<Vmm const*> order;
        for (Vmm const& vmm : vmms) order.push_back(&vmm);
        if (i % 2 == 1) std::ranges::reverse(order);
        for (Vmm const* each : order) {
            Vmm const& vmm = *each;
            std::fprintf(stderr, "run %d/%d: %s\n", i + 1, runs, vmm.name.c_str());
            IperfServer server(iperf3, server_ip);
            usleep(300'000);
            if (!server.running()) {
                std::fprintf(stderr, "cannot run %s -s -B %s (is %s up with that address?)\n",
                             iperf3.c_str(), server_ip.c_str(), tap.c_str());
                return 1;
            }
            Run const r = run_once(vmm.argv, timeout_s);
            std::vector<std::string> missing;
            for (std::string const& dir : kDirections) {
                auto const report = iperf_report(r.output, dir);
                Mark const b = r.begin.contains(dir) ? r.begin.at(dir) : Mark{};
                Mark const e = r.end.contains(dir) ? r.end.at(dir) : Mark{};
                double const bytes =
                    report ? (*report)["end"]["sum_received"].value("bytes", 0.0) : 0;
                double const bps =
                    report ? (*report)["end"]["sum_received"].value("bits_per_second", 0.0) : 0;
                if (!b.seen || !e.seen || e.at_s < b.at_s || !b.cpu.ok || !e.cpu.ok) {
                    missing.push_back(dir + " markers");
                    continue;
                }
                if (!report || bytes <= 0) {
                    std::string error = report ? report->value("error", "no bytes") : "missing";
                    missing.push_back(fmt::format("{} iperf3 report ({})", dir, error));
                    continue;
                }
                double const cpu_s = e.cpu.host - b.cpu.host;
                auto& s = samples[vmm.name];
                s[dir + " mbit_s"].push_back(bps / 1e6);
                s[dir + " cpu_s_per_gb"].push_back(cpu_s / (bytes / 1e9));
                s[dir + " bytes"].push_back(bytes);
                s[dir + " window_s"].push_back(e.at_s - b.at_s);
                s[dir + " cpu_s"].push_back(cpu_s);
                std::fprintf(stderr, "%-5s %-14s %9.1f Mbit/s  %8.1f MB  VMM CPU %6.2f s, %7.2f s/GB\n",
                             vmm.name.c_str(), dir.c_str(), bps / 1e6, bytes / 1e6, cpu_s,
                             cpu_s / (bytes / 1e9));
            }
            if (r.status != vmm.ok || !missing.empty()) {
                std::string what = fmt::format("status {} (expected {})", r.status, vmm.ok);
                for (auto const& m : missing) what += ", " + m + " missing";
                problems[vmm.name] = fmt::format("{}; output:\n{}", what, r.output);
                std::fprintf(stderr, "%s: failed: %s\n", vmm.name.c_str(), what.c_str());
                continue;
            }
            samples[vmm.name]["rusage_cpu_s"].push_back(r.rusage_cpu_s);
        }
    }

    nlohmann::json result{{"host", host},       {"runs", runs},         {"memory", memory},
                          {"seconds", seconds}, {"tool", "iperf3 TCP"}, {"qemu_net", "vhost=off"}};
    std::printf("host: %s\niperf3 (TCP, 1 stream) %d s per direction, guest %s, host %s on tap "
                "%s; medians of %d runs; ratio: wisp to qemu\n",
                host.c_str(), seconds, guest_ip.c_str(), server_ip.c_str(), tap.c_str(), runs);
    std::printf("%-32s", "");
    for (Vmm const& vmm : vmms) std::printf(" %18s", vmm.name.c_str());
    std::printf("\n");
    std::vector<std::pair<std::string, std::string>> rows;
    for (std::string const& dir : kDirections) {
        rows.push_back({dir + " mbit_s", dir + " Mbit/s"});
        rows.push_back({dir + " cpu_s_per_gb", dir + " VMM CPU s/GB"});
    }
    rows.push_back({"rusage_cpu_s", "process user+sys, whole run (s)"});
    for (auto const& [key, label] : rows) {
        std::printf("%-32s", label.c_str());
        auto const base = median(samples["qemu"][key]);
        for (Vmm const& vmm : vmms) {
            auto const m = median(samples[vmm.name][key]);
            if (m) result["results"][vmm.name][key] = *m;
            std::printf(" %18s", cell_of(m, base, vmm.name != "qemu").c_str());
        }
        std::printf("\n");
    }
    // A run counts when both directions gave figures and the VMM ended as expected.
    std::printf("%-32s", "runs completed");
    for (Vmm const& vmm : vmms) {
        auto const done = samples[vmm.name]["rusage_cpu_s"].size();
        result["results"][vmm.name]["runs_completed"] = done;
        std::printf(" %18s", fmt::format("{} of {}", done, runs).c_str());
    }
    std::printf("\n");
    for (auto const& [who, metrics] : samples)
        for (auto const& [key, values] : metrics) result["samples"][who][key] = values;
    for (auto const& [who, problem] : problems) {
        std::printf("%s: last failure: %s\n", who.c_str(), problem.c_str());
        result["problems"][who] = problem;
    }
    if (!json_path.empty()) std::ofstream(json_path) << result.dump(2) << "\n";
    return samples["wisp"]["guest-to-host mbit_s"].empty() ? 1 : 0;
}
