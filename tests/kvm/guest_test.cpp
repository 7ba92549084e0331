// SPDX-License-Identifier: Apache-2.0
// Freestanding test guests run by the real wisp binary on KVM: console output, exit statuses,
// boot information, console input, crashes and the boot timer.
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <iostream>
#include <regex>

#include "tests/support/process.h"
#include "tests/support/temp_file.h"

using vmm::test::ProcessOptions;
using vmm::test::ProcessResult;
using vmm::test::read_file;
using vmm::test::run_process;
using vmm::test::TempDir;

namespace {

std::string guest(char const* name) { return vmm::test::guest_path(name); }

ProcessResult wisp(std::vector<std::string> args, ProcessOptions options = {}) {
    args.insert(args.begin(), WISP_BINARY);
    auto r = run_process(args, options);
    // Shown by ctest --output-on-failure when a check below fails.
    std::cout << "$";
    for (auto const& a : args) std::cout << ' ' << a;
    std::cout << "\nstatus: " << r.status << "\nstdout: " << r.out << "\nstderr: " << r.err << "\n";
    CHECK_FALSE(r.timed_out);
    return r;
}

uint32_t fnv1a(std::vector<uint8_t> const& data) {
    uint32_t hash = 2166136261u;
    for (uint8_t b : data) hash = (hash ^ b) * 16777619u;
    return hash;
}

}  // namespace

TEST_CASE("A guest greets through the serial port and exits with status 0", "[kvm][serial]") {
    auto r = wisp({"run", "--kernel", guest("hello")});
    CHECK(r.out == "Hello from a wisp guest!\n");
    CHECK(r.status == 0);
}

TEST_CASE("The exit device ends wisp with the guest's chosen status", "[kvm][exit]") {
    for (int status : {1, 7, 42, 255}) {
        auto r = wisp(
            {"run", "--kernel", guest("hello"), "--cmdline", "status=" + std::to_string(status)});
        CHECK(r.status == status);
        CHECK(r.out == "Hello from a wisp guest!\n");
    }
}

TEST_CASE("The guest finds the command line, memory map and initrd it was given", "[kvm][pvh]") {
    TempDir dir;
    auto const initrd = vmm::test::random_bytes(10000, 7);
    auto initrd_path = dir.write("initrd", initrd);
    auto r = wisp({"run", "--kernel", guest("bootinfo"), "--memory", "64M", "--cmdline",
                   "console=ttyS0 wisp.test=bootinfo", "--initrd", initrd_path});
    CHECK(r.status == 0);
    CHECK(r.out.find("start_info: 0x6000\n") != std::string::npos);
    CHECK(r.out.find("magic: 0x336ec578\n") != std::string::npos);
    CHECK(r.out.find("version: 1\n") != std::string::npos);
    CHECK(r.out.find("cmdline: console=ttyS0 wisp.test=bootinfo\n") != std::string::npos);
    CHECK(r.out.find("memmap_entries: 3\n") != std::string::npos);
    CHECK(r.out.find("memmap: 0x0 0x9fc00 1\n") != std::string::npos);
    CHECK(r.out.find("memmap: 0x9fc00 0x60400 2\n") != std::string::npos);
    CHECK(r.out.find("memmap: 0x100000 0x3f00000 1\n") != std::string::npos);
    CHECK(r.out.find("modules: 1\n") != std::string::npos);
    std::smatch m;
    std::regex const module_line("module: 0x([0-9a-f]+) 0x([0-9a-f]+) fnv1a 0x([0-9a-f]+)\n");
    REQUIRE(std::regex_search(r.out, m, module_line));
    uint64_t const address = std::stoull(m[1], nullptr, 16);
    CHECK(address % 4096 == 0);
    CHECK(address >= 0x100000);
    CHECK(address + initrd.size() <= (64u << 20));
    CHECK(std::stoull(m[2], nullptr, 16) == initrd.size());
    CHECK(std::stoul(m[3], nullptr, 16) == fnv1a(initrd));
    CHECK(read_file(initrd_path) == initrd);
}

TEST_CASE("Without an initrd the guest sees no module", "[kvm][pvh]") {
    auto r = wisp({"run", "--kernel", guest("bootinfo")});
    CHECK(r.status == 0);
    CHECK(r.out.find("modules: 0\n") != std::string::npos);
    CHECK(r.out.find("cmdline: console=ttyS0 reboot=k panic=1 pci=off\n") != std::string::npos);
}

TEST_CASE("Console input on stdin reaches the guest's UART", "[kvm][serial]") {
    auto r = wisp({"run", "--kernel", guest("echo")},
                  ProcessOptions{.input = std::string("ping pong\n") + '\x04'});
    CHECK(r.out == "echo ready\nping pong\n");
    CHECK(r.status == 42);
}

TEST_CASE("Ctrl-A Ctrl-A sends one Ctrl-A to the guest", "[kvm][serial]") {
    auto r = wisp({"run", "--kernel", guest("echo")},
                  ProcessOptions{.input = std::string("a\x01\x01z") + '\x04'});
    CHECK(r.out == std::string("echo ready\na\x01z"));
    CHECK(r.status == 42);
}

TEST_CASE("The console escape Ctrl-A x ends wisp with status 130", "[kvm][serial]") {
    auto r = wisp({"run", "--kernel", guest("echo")},
                  ProcessOptions{.input = std::string("abc"),
                                 .signal_when_output = "echo ready\nabc",
                                 .later_input = std::string("\x01x")});
    CHECK(r.status == 130);
    CHECK(r.out == "echo ready\nabc");
}

TEST_CASE("SIGTERM and SIGINT end a running guest with 143 and 130", "[kvm][signals]") {
    auto term = wisp({"run", "--kernel", guest("echo")},
                     ProcessOptions{.signal_when_output = "echo ready\n", .signal = SIGTERM});
    CHECK(term.status == 143);
    auto interrupt = wisp({"run", "--kernel", guest("echo")},
                          ProcessOptions{.signal_when_output = "echo ready\n", .signal = SIGINT});
    CHECK(interrupt.status == 130);
}

TEST_CASE("A triple fault ends wisp with status 80 and a register dump", "[kvm][crash]") {
    auto r = wisp({"run", "--kernel", guest("triple_fault")});
    CHECK(r.status == 80);
    CHECK(r.out == "about to triple-fault\n");
    CHECK(r.err.find("guest crashed: triple fault") != std::string::npos);
    CHECK(r.err.find("rip=") != std::string::npos);
    // Intel keeps the faulting state (rip at the ud2: 0f 0b); AMD's KVM resets the vCPU on a
    // shutdown intercept, so the dump shows the reset vector there.
    CHECK(std::regex_search(r.err, std::regex("code at rip: (0f 0b|\\(not in guest RAM\\))")));
}

TEST_CASE("A guest halted with interrupts off ends wisp with status 0", "[kvm][halt]") {
    // Every vCPU in HLT with IF clear (APs never started count as done): KVM_RUN never returns,
    // so only the periodic kick can notice.
    for (char const* cpus : {"1", "2"}) {
        INFO("--cpus " << cpus);
        auto r = wisp({"run", "--kernel", guest("halt"), "--cpus", cpus});
        CHECK(r.status == 0);
        CHECK(r.out == "halting with interrupts off\n");
        CHECK(r.err.find("the guest halted (powered off)") != std::string::npos);
    }
}

TEST_CASE("An emulation failure is reported with its bytes and a hint, with either profile",
          "[kvm][crash][host-profile]") {
    auto native = wisp({"run", "--kernel", guest("emulation_failure")});
    CHECK(native.status == 80);
    CHECK(native.out == "popcnt on MMIO\n");
    CHECK(native.err.find("host profile native") != std::string::npos);
    CHECK(native.err.find("instruction emulation failed") != std::string::npos);
    CHECK(native.err.find("code at rip: f3 0f b8 05 00 00 00 fe") != std::string::npos);
    CHECK(native.err.find("hint: popcnt is one of the instructions") != std::string::npos);
    // Forced on, the fallback reads and decodes the same instruction but cannot read an MMIO
    // operand, so it declines.
    auto pvm = wisp({"run", "--kernel", guest("emulation_failure"), "--host-profile", "pvm"});
    CHECK(pvm.status == 80);
    CHECK(pvm.err.find("hint: popcnt in a form or mode the pvm fallback does not handle") !=
          std::string::npos);
    CHECK(pvm.err.find("pvm fallback: int3 0, clac 0") != std::string::npos);
    // A well-behaved guest runs as before, with the profile's options on its command line.
    auto info =
        wisp({"run", "--kernel", guest("bootinfo"), "--host-profile", "pvm", "--cpus", "2"});
    CHECK(info.status == 0);
    CHECK(info.out.find("cmdline: console=ttyS0 reboot=k panic=1 pci=off noxsave") !=
          std::string::npos);
    CHECK(info.out.find(" pty.legacy_count=0\n") != std::string::npos);
}

TEST_CASE("The boot timer logs the time when the guest writes its magic", "[kvm][boot-timer]") {
    auto timed = wisp({"run", "--kernel", guest("boot_timer"), "--boot-timer"});
    CHECK(timed.status == 0);
    CHECK(std::regex_search(timed.err, std::regex("guest boot time: [0-9]+\\.[0-9]{3} ms")));
    auto untimed = wisp({"run", "--kernel", guest("boot_timer")});
    CHECK(untimed.status == 0);
    CHECK(untimed.err.find("guest boot time") == std::string::npos);
    CHECK(untimed.out == "boot timer written\n");
}

TEST_CASE("Console output can go to a file or nowhere", "[kvm][serial]") {
    TempDir dir;
    std::string const path = dir.path() + "/console.log";
    auto to_file = wisp({"run", "--kernel", guest("hello"), "--console", "file:" + path});
    CHECK(to_file.status == 0);
    CHECK(to_file.out.empty());
    auto written = read_file(path);
    CHECK(std::string(written.begin(), written.end()) == "Hello from a wisp guest!\n");
    auto silent =
        wisp({"run", "--kernel", guest("hello"), "--console", "none", "--cmdline", "status=3"});
    CHECK(silent.out.empty());
    CHECK(silent.status == 3);
}

TEST_CASE("A guest with several vCPUs boots on the first and exits cleanly", "[kvm][smp]") {
    auto r = wisp({"run", "--kernel", guest("hello"), "--cpus", "4", "--memory", "256M"});
    CHECK(r.status == 0);
    CHECK(r.out == "Hello from a wisp guest!\n");
}

TEST_CASE("Memory above the 3 GiB hole is mapped without error", "[kvm][memory]") {
    auto r = wisp({"run", "--kernel", guest("bootinfo"), "--memory", "4G"});
    CHECK(r.status == 0);
    CHECK(r.out.find("memmap: 0x100000000 0x40000000 1\n") != std::string::npos);
}

namespace {

// Runs the 64-bit guest (tests/guests/linux64.c) and checks what it found through boot_params.
void check_linux64_boot(std::string const& kernel, char const* version) {
    TempDir dir;
    auto const initrd = vmm::test::random_bytes(12345, 11);
    auto initrd_path = dir.write("initrd", initrd);
    auto r = wisp({"run", "--kernel", kernel, "--memory", "64M", "--cmdline",
                   "console=ttyS0 wisp.test=linux64", "--initrd", initrd_path});
    CHECK(r.status == 0);
    // The 64-bit entry state (boot.rst): long mode, paging on our tables, CS = __BOOT_CS.
    CHECK(r.out.find("boot_params: 0x8000\n") != std::string::npos);
    CHECK(r.out.find("cs: 0x10\n") != std::string::npos);
    CHECK(r.out.find("cr3: 0x9000\n") != std::string::npos);
    CHECK(r.out.find("paging: on\nlong mode: active\npae: on\n") != std::string::npos);
    // boot_params.
    CHECK(r.out.find("header: HdrS\n") != std::string::npos);
    CHECK(r.out.find("boot_flag: 0xaa55\n") != std::string::npos);
    CHECK(r.out.find(std::string("version: ") + version + "\n") != std::string::npos);
    CHECK(r.out.find("type_of_loader: 0xff\n") != std::string::npos);
    CHECK(r.out.find("loadflags: 0x1\n") != std::string::npos);
    CHECK(r.out.find("xloadflags: 0x1\n") != std::string::npos);
    CHECK(r.out.find("cmd_line_ptr: 0x20000\n") != std::string::npos);
    CHECK(r.out.find("cmdline: console=ttyS0 wisp.test=linux64") != std::string::npos);
    CHECK(r.out.find("e820_entries: 3\n") != std::string::npos);
    CHECK(r.out.find("e820: 0x0 0x9fc00 1\n") != std::string::npos);
    CHECK(r.out.find("e820: 0x9fc00 0x60400 2\n") != std::string::npos);
    CHECK(r.out.find("e820: 0x100000 0x3f00000 1\n") != std::string::npos);
    std::smatch m;
    std::regex const ramdisk_line("ramdisk: 0x([0-9a-f]+) 0x([0-9a-f]+) fnv1a 0x([0-9a-f]+)\n");
    REQUIRE(std::regex_search(r.out, m, ramdisk_line));
    uint64_t const address = std::stoull(m[1], nullptr, 16);
    CHECK(address % 4096 == 0);
    CHECK(address >= 0x1100000);  // above the kernel (16 MiB + init_size / memsz)
    CHECK(address + initrd.size() <= (64u << 20));
    CHECK(std::stoull(m[2], nullptr, 16) == initrd.size());
    CHECK(std::stoul(m[3], nullptr, 16) == fnv1a(initrd));
}

}  // namespace

TEST_CASE("A 64-bit ELF without a PVH note boots through boot_params", "[kvm][linux64]") {
    check_linux64_boot(guest("linux64"), "0x20c");
}

TEST_CASE("A bzImage boots through its 64-bit entry", "[kvm][linux64][bzImage]") {
    check_linux64_boot(std::string(WISP_GUEST_DIR) + "/linux64.bzImage", "0x20f");
}

TEST_CASE("virtio-rng answers a guest driver through virtio-mmio", "[kvm][virtio][rng]") {
    // The guest finds the device on its command line, sets up a queue, notifies through the
    // ioeventfd and polls the used ring for 64 random bytes.
    auto r = wisp({"run", "--kernel", guest("virtio_rng"), "--rng"});
    CHECK(r.out.find("virtio-rng: device at 0xd0001000 irq 5\n") != std::string::npos);
    CHECK(r.out.find("virtio-rng: used len 64\n") != std::string::npos);
    CHECK(r.out.find("virtio-rng: ok\n") != std::string::npos);
    CHECK(r.status == 0);
    // Without --rng there is no device and no command-line entry.
    auto none = wisp({"run", "--kernel", guest("virtio_rng")});
    CHECK(none.out == "virtio-rng: no device on the command line\n");
    CHECK(none.status == 3);
}

namespace {

constexpr size_t kSector = 512;
constexpr size_t kDiskBytes = 1 << 20;  // 2048 sectors

// A 1 MiB image: pseudo-random bytes with a text marker at the start of sector 0.
std::vector<uint8_t> disk_image() {
    auto image = vmm::test::random_bytes(kDiskBytes, 23);
    std::string const marker = "wisp virtio-blk test image\n";
    std::copy(marker.begin(), marker.end(), image.begin());
    return image;
}

// tests/guests/virtio_blk.c's pattern for the 8 sectors it writes at sector 16.
std::vector<uint8_t> blk_guest_pattern() {
    std::vector<uint8_t> bytes(8 * kSector);
    for (uint32_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<uint8_t>(i * 7 + (i >> 8) + 0x3c);
    return bytes;
}

// serial_put_hex's format: 0x and lower-case digits without leading zeros.
std::string hex(uint32_t value) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%x", value);
    return text;
}

std::string fnv1a_of(std::vector<uint8_t> const& data, size_t offset, size_t length) {
    return hex(fnv1a(std::vector<uint8_t>(data.begin() + static_cast<ptrdiff_t>(offset),
                                          data.begin() + static_cast<ptrdiff_t>(offset + length))));
}

bool has(ProcessResult const& r, std::string const& line) {
    return r.out.find(line) != std::string::npos;
}

}  // namespace

TEST_CASE("virtio-blk: a guest driver writes, flushes and reads back sectors",
          "[kvm][virtio][blk]") {
    // The test binary and wisp run on the same (possibly nested) host: the image is local.
    // Both engines: the sync one and io_uring (requests completed from the event loop).
    std::string const engine =
        GENERATE(std::string(",engine=sync"), std::string(",engine=io_uring"));
    INFO(engine);
    TempDir dir;
    auto const image = disk_image();
    auto const path = dir.write("disk.img", image);
    auto r =
        wisp({"run", "--kernel", guest("virtio_blk"), "--disk", path + ",id=blk-test" + engine});
    CHECK(has(r, "virtio-blk: device at 0xd0001000 irq 5\n"));
    CHECK(has(r, "virtio-blk: capacity 2048 sectors\n"));
    CHECK(has(r, "virtio-blk: write status 0 len 1\n"));
    CHECK(has(r, "virtio-blk: flush status 0 len 1\n"));
    CHECK(has(r, "virtio-blk: read status 0 len 4097\n"));
    CHECK(has(r, "virtio-blk: read back matches\n"));
    CHECK(has(r, "virtio-blk: sector 0 fnv1a " + fnv1a_of(image, 0, kSector) + "\n"));
    CHECK(has(r, "virtio-blk: id 'blk-test'\n"));
    CHECK(has(r, "virtio-blk: read past the end status 1 len 1\n"));
    CHECK(has(r, "virtio-blk: ok\n"));
    CHECK(r.status == 0);
    // On the host: sectors 16-23 hold the guest's pattern, everything else is as it was.
    auto expected = image;
    auto const pattern = blk_guest_pattern();
    std::copy(pattern.begin(), pattern.end(), expected.begin() + 16 * kSector);
    auto const after = read_file(path);
    REQUIRE(after.size() == image.size());
    CHECK(after == expected);
    // Without --disk the guest finds no device.
    auto none = wisp({"run", "--kernel", guest("virtio_blk")});
    CHECK(none.out == "virtio-blk: no device on the command line\n");
    CHECK(none.status == 3);
}

TEST_CASE("virtio-blk: a read-only disk refuses the guest's writes and stays unchanged",
          "[kvm][virtio][blk]") {
    // Both engines: the sync one and io_uring (requests completed from the event loop).
    std::string const engine =
        GENERATE(std::string(",engine=sync"), std::string(",engine=io_uring"));
    INFO(engine);
    TempDir dir;
    auto const image = disk_image();
    auto const path = dir.write("disk.img", image);
    auto r =
        wisp({"run", "--kernel", guest("virtio_blk"), "--disk", path + ",ro,id=ro-disk" + engine});
    CHECK(has(r, "virtio-blk: capacity 2048 sectors, read-only\n"));
    CHECK(has(r, "virtio-blk: write status 1 len 1\n"));
    CHECK(has(r, "virtio-blk: flush status 0 len 1\n"));
    CHECK(has(
        r, "virtio-blk: sectors 16-23 fnv1a " + fnv1a_of(image, 16 * kSector, 8 * kSector) + "\n"));
    CHECK(has(r, "virtio-blk: read-only: write refused\n"));
    CHECK(has(r, "virtio-blk: id 'ro-disk'\n"));
    CHECK(has(r, "virtio-blk: ok\n"));
    CHECK(r.status == 0);
    CHECK(r.err.find("a write to a read-only disk was refused") != std::string::npos);
    CHECK(read_file(path) == image);
}

TEST_CASE("virtio-blk: malformed requests and rings get errors or needs-reset while wisp runs on",
          "[kvm][virtio][blk]") {
    // Both engines: the sync one and io_uring (requests completed from the event loop).
    std::string const engine =
        GENERATE(std::string(",engine=sync"), std::string(",engine=io_uring"));
    INFO(engine);
    TempDir dir;
    auto const image = disk_image();
    auto const path = dir.write("disk.img", image);
    auto r = wisp({"run", "--kernel", guest("virtio_blk_hostile"), "--disk", path + engine});
    // Chain errors: returned with nothing written; a bad request with a status byte: IOERR.
    CHECK(has(r, "a chain that loops\nvirtio-blk-hostile:   used id 0 len 0 status 0xff\n"));
    CHECK(has(r,
              "next past the descriptor table\nvirtio-blk-hostile:   used id 5 len 0 status "
              "0xff\n"));
    CHECK(has(r,
              "the header in a writable buffer\nvirtio-blk-hostile:   used id 2 len 1 status "
              "0x1\n"));
    CHECK(has(r, "no writable status byte\nvirtio-blk-hostile:   used id 6 len 0 status 0xff\n"));
    CHECK(has(r,
              "a good read after the malformed chains\nvirtio-blk-hostile:   used id 1 len 513 "
              "status 0x0\n"));
    // The avail jump: DEVICE_NEEDS_RESET (0x40) on top of the driver's 0xf, a config change.
    CHECK(has(r, "virtio-blk-hostile: status 0x4f\n"));
    CHECK(has(r, "virtio-blk-hostile: interrupt status 0x2\n"));
    CHECK(has(r,
              "a good read after the reset\nvirtio-blk-hostile:   used id 0 len 513 status "
              "0x0\n"));
    std::string const sector0 =
        "virtio-blk-hostile: sector 0 fnv1a " + fnv1a_of(image, 0, kSector) + "\n";
    auto const first = r.out.find(sector0);
    CHECK(first != std::string::npos);
    CHECK(r.out.find(sector0, first + 1) != std::string::npos);  // before and after the reset
    CHECK(has(r, "virtio-blk-hostile: ok\n"));
    CHECK(r.status == 0);
    CHECK(r.err.find("malformed descriptor chain: descriptor chain loops") != std::string::npos);
    CHECK(r.err.find("a request's header needs 16 readable bytes; it had 0") != std::string::npos);
    CHECK(r.err.find("a request without a writable byte for its status") != std::string::npos);
    CHECK(r.err.find("needs reset: available index moved by more than the size") !=
          std::string::npos);
    CHECK(read_file(path) == image);
}
