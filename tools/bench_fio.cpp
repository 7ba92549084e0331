// SPDX-License-Identifier: Apache-2.0
// wisp-bench-fio: fio inside the project's Linux guest on a virtio-blk disk, wisp (engine=sync
// and engine=io_uring) next to QEMU's microvm machine (virtio-blk-device, aio=threads, QEMU's
// default), with the same kernel, initramfs (scripts/guest-initramfs-fio), memory and image.
// The guest runs guest/fio/jobs.fio on /dev/vda with O_DIRECT (4 KiB random reads and writes
// at queue depth 1 with psync and 16 with libaio, 1 MiB sequential reads and writes), each job
// for a fixed time, and prints fio's JSON report on the console between markers. Per VMM and
// job: IOPS and MB/s (10^6 bytes) as fio measured them inside the guest. Prints medians over
// the runs with ratios to QEMU; writes the figures as JSON.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/bench_util.h"


namespace {

using bench::median;

// fio's JSON report from the console output (between the markers, carriage returns removed).
std::optional<nlohmann::json> fio_report(std::string const& output) {
    std::string const begin = "FIO-JSON-BEGIN", end = "FIO-JSON-END";
    auto const b = output.find(begin);
    if (b == std::string::npos) return std::nullopt;
    auto const e = output.find(end, b);
    if (e == std::string::npos) return std::nullopt;
    std::string text = output.substr(b + begin.size(), e - b - begin.size());
    std::erase(text, '\r');
    auto report = nlohmann::json::parse(text, nullptr, false);
    if (report.is_discarded() || !report.contains("jobs")) return std::nullopt;
    return report;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"fio in a Linux guest on virtio-blk: wisp (sync, io_uring) and QEMU microvm"};
    int runs = 1, timeout_s = 900, runtime_s = 5;
    uint32_t image_mib = 256;
    std::string wisp, kernel, initrd, qemu, json_path, dir = "/tmp", host = "unknown";
    std::string memory = "512M";
    app.add_option("--runs", runs)->capture_default_str();
    app.add_option("--wisp", wisp)->required();
    app.add_option("--kernel", kernel, "vmlinux with a PVH note (both VMMs boot it)")->required();
    app.add_option("--initrd", initrd, "scripts/guest-initramfs-fio's initramfs")->required();
    app.add_option("--qemu", qemu, "qemu-system-x86_64 to compare with (optional)");
    app.add_option("--memory", memory)->capture_default_str();
    app.add_option("--runtime", runtime_s, "Seconds per fio job")->capture_default_str();
    app.add_option("--image-mib", image_mib, "Size of the disk image")->capture_default_str();
    app.add_option("--dir", dir, "Where the image is made")->capture_default_str();
    app.add_option("--timeout", timeout_s, "Seconds before a run is killed")->capture_default_str();
    app.add_option("--json", json_path, "Where to write the results");
    app.add_option("--host", host, "Description of the host, for the report");
    CLI11_PARSE(app, argc, argv);

    // One image for every VMM, written in full (no holes), so reads hit real data.
    std::string const image = dir + "/wisp-bench-fio.img";
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
    std::string const cmdline = fmt::format(
        "console=ttyS0 reboot=k panic=-1 pci=off quiet wisp.cmd=/etc/fio/run fio.runtime={}",
        runtime_s);

    struct Vmm {
        std::string name;
        std::vector<std::string> argv;
        int ok;
    };
    std::vector<Vmm> vmms;
    for (std::string engine : {"sync", "io_uring"})
        vmms.push_back({"wisp " + engine,
                        {wisp, "run", "--kernel", kernel, "--initrd", initrd, "--memory", memory,
                         "--cmdline", cmdline, "--disk", image + ",engine=" + engine},
                        0});
    if (!qemu.empty())
        // isa-debug-exit turns the guest's 0 into QEMU's status 1. cache=writeback and
        // aio=threads (the defaults) go through the host's page cache, as wisp does. acpi=off:
        // only then does microvm announce its virtio-mmio devices on the command line.
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
                         "-drive",
                         fmt::format("file={},if=none,id=d0,format=raw", image),
                         "-device",
                         "virtio-blk-device,drive=d0",
                         "-device",
                         "isa-debug-exit,iobase=0xf4,iosize=1",
                         "-no-reboot"},
                        1});

    // samples[job][vmm][metric]; jobs in the order fio ran them.
    std::vector<std::string> jobs;
    std::map<std::string, std::map<std::string, std::map<std::string, std::vector<double>>>> samples;
    std::map<std::string, std::string> problems;
    for (int i = 0; i < runs; ++i) {
        for (Vmm const& vmm : vmms) {
            bench::Run const r = bench::run_captured(vmm.argv, timeout_s);
            auto const report = fio_report(r.output);
            if (r.status != vmm.ok || !report) {
                problems[vmm.name] = fmt::format("status {} (expected {}), report {}; output:\n{}",
                                                 r.status, vmm.ok, report ? "seen" : "missing",
                                                 r.output);
                std::fprintf(stderr, "%s: failed (status %d)\n", vmm.name.c_str(), r.status);
                continue;
            }
            for (auto const& job : (*report)["jobs"]) {
                std::string const name = job.value("jobname", "?");
                if (std::ranges::find(jobs, name) == jobs.end()) jobs.push_back(name);
                if (job.value("error", 0) != 0) {
                    problems[vmm.name] = fmt::format("job {}: error {}", name, job.value("error", 0));
                    continue;
                }
                // A job reads or writes: take the direction that moved data.
                auto const& dir_stats =
                    job["write"].value("io_bytes", 0.0) > job["read"].value("io_bytes", 0.0)
                        ? job["write"]
                        : job["read"];
                double const iops = dir_stats.value("iops", 0.0);
                double const mb_s = dir_stats.value("bw_bytes", 0.0) / 1e6;
                samples[name][vmm.name]["iops"].push_back(iops);
                samples[name][vmm.name]["mb_s"].push_back(mb_s);
                std::fprintf(stderr, "%-13s %-26s %9.0f IOPS %8.2f MB/s\n", vmm.name.c_str(),
                             name.c_str(), iops, mb_s);
            }
        }
    }
    ::unlink(image.c_str());

    nlohmann::json result{{"host", host},           {"runs", runs},   {"memory", memory},
                          {"runtime_s", runtime_s}, {"image_mib", image_mib}};
    std::printf("host: %s\nfio in the guest, O_DIRECT on /dev/vda, %d s per job; medians of %d "
                "runs; ratio: to qemu\n",
                host.c_str(), runtime_s, runs);
    std::printf("%-26s %-5s", "", "");
    for (Vmm const& vmm : vmms) std::printf(" %16s", vmm.name.c_str());
    std::printf("\n");
    std::string const base = qemu.empty() ? "" : "qemu";
    for (std::string const& job : jobs) {
        // 4 KiB jobs are about IOPS, 1 MiB ones about bandwidth; both are recorded.
        std::string const key = job.find("-1m-") != std::string::npos ? "mb_s" : "iops";
        std::printf("%-26s %-5s", job.c_str(), key == "iops" ? "IOPS" : "MB/s");
        for (Vmm const& vmm : vmms) {
            for (std::string metric : {"iops", "mb_s"})
                if (auto const m = median(samples[job][vmm.name][metric]))
                    result["results"][vmm.name][job][metric] = *m;
            auto const m = median(samples[job][vmm.name][key]);
            double b = 0;  // the QEMU figure, 0 when there is none
            if (auto const bm = median(samples[job][base][key]); bm && !base.empty()) b = *bm;
            std::string cell = "-";
            if (m) {
                cell = *m >= 100 ? fmt::format("{:.0f}", *m) : fmt::format("{:.2f}", *m);
                if (b != 0 && vmm.name != base) cell += fmt::format(" ({:.2f}x)", *m / b);
            }
            std::printf(" %16s", cell.c_str());
        }
        std::printf("\n");
    }
    for (auto const& [who, problem] : problems) {
        std::printf("%s: last failure: %s\n", who.c_str(), problem.c_str());
        result["problems"][who] = problem;
    }
    if (!json_path.empty()) std::ofstream(json_path) << result.dump(2) << "\n";
    return jobs.empty() ? 1 : 0;
}
