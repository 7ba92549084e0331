// SPDX-License-Identifier: Apache-2.0
// Bad input to the real wisp binary: each gets a one-line error that names the problem, a
// documented exit status, no crash and no hang, and leaves the user's files as they were.
// Every check here happens before /dev/kvm is opened, so these run on any host.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <catch2/catch.hpp>

#include "tests/support/process.h"
#include "tests/support/temp_file.h"

using vmm::test::ProcessResult;
using vmm::test::read_file;
using vmm::test::run_process;
using vmm::test::TempDir;

namespace {

std::string const kWisp = WISP_BINARY;
std::string guest(char const* name) { return vmm::test::guest_path(name); }

ProcessResult wisp(std::vector<std::string> args) {
    args.insert(args.begin(), kWisp);
    return run_process(args);
}

// One line on stderr, containing every fragment; nothing on stdout.
void check_refusal(ProcessResult const& r, int status, std::vector<std::string> const& fragments) {
    INFO("stderr: " << r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.status == status);
    CHECK(r.out.empty());
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') <= 2);  // message (+ usage hint)
    for (auto const& fragment : fragments) CHECK(r.err.find(fragment) != std::string::npos);
}

std::vector<uint8_t> patched_hello(auto&& patch) {
    auto image = read_file(guest("hello"));
    REQUIRE(image.size() > 64);
    patch(image);
    return image;
}

}  // namespace

TEST_CASE("A missing kernel file is refused with status 66", "[cli]") {
    check_refusal(wisp({"run", "--kernel", "/nonexistent/vmlinux"}), 66,
                  {"kernel", "/nonexistent/vmlinux", "No such file"});
}

TEST_CASE("A directory given as kernel is refused with status 66", "[cli]") {
    TempDir dir;
    check_refusal(wisp({"run", "--kernel", dir.path()}), 66, {"not a regular file"});
}

TEST_CASE("Random bytes as kernel are refused with status 65", "[cli]") {
    TempDir dir;
    auto const noise = vmm::test::random_bytes(4096, 1);
    auto path = dir.write("noise", noise);
    check_refusal(wisp({"run", "--kernel", path}), 65,
                  {"not a kernel wisp can boot", "ELF", "bzImage"});
    CHECK(read_file(path) == noise);  // the user's file is untouched
}

TEST_CASE("A truncated ELF header is refused with status 65", "[cli]") {
    TempDir dir;
    auto image = read_file(guest("hello"));
    image.resize(30);
    check_refusal(wisp({"run", "--kernel", dir.write("cut", image)}), 65, {"truncated"});
}

TEST_CASE("An ELF whose segment lies past the end of the file is refused", "[cli]") {
    TempDir dir;
    auto image = read_file(guest("hello"));
    image.resize(image.size() / 2 > 0x200 ? 0x200 : image.size() / 2);
    check_refusal(wisp({"run", "--kernel", dir.write("cut", image)}), 65, {"past the end"});
}

TEST_CASE("An ELF without a PVH note is refused with status 65", "[cli]") {
    TempDir dir;
    auto image = patched_hello([](std::vector<uint8_t>& bytes) {
        // The note's type word sits just before its name "Xen\0": make it another note type.
        auto at = std::search(bytes.begin(), bytes.end(), "Xen", "Xen" + 4);
        REQUIRE(at != bytes.end());
        REQUIRE(at[-4] == 18);
        at[-4] = 19;
    });
    check_refusal(wisp({"run", "--kernel", dir.write("nonote", image)}), 65,
                  {"no PVH entry note", "CONFIG_PVH"});
}

TEST_CASE("A bzImage older than boot protocol 2.06 is refused with status 65", "[cli]") {
    TempDir dir;
    auto image = read_file(std::string(WISP_GUEST_DIR) + "/linux64.bzImage");
    REQUIRE(image.size() > 0x208);
    REQUIRE(std::memcmp(image.data() + 0x202, "HdrS", 4) == 0);
    image[0x206] = 0x05;  // version 2.05
    check_refusal(wisp({"run", "--kernel", dir.write("old-bzImage", image)}), 65,
                  {"boot protocol 2.05", "2.06"});
}

TEST_CASE("A kernel too big for guest memory is refused with status 65", "[cli]") {
    check_refusal(wisp({"run", "--kernel", guest("big_bss"), "--memory", "32M"}), 65,
                  {"--memory"});
}

TEST_CASE("An initrd too big for guest memory is refused with status 65", "[cli]") {
    TempDir dir;
    std::vector<uint8_t> big(6 << 20, 0x5a);
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--memory", "4M", "--initrd",
                        dir.write("initrd", big)}),
                  65, {"initrd", "--memory"});
}

TEST_CASE("A missing initrd is refused with status 66", "[cli]") {
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--initrd", "/nonexistent/initrd"}), 66,
                  {"initrd", "/nonexistent/initrd"});
}

TEST_CASE("An empty initrd is refused with status 65", "[cli]") {
    TempDir dir;
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--initrd", dir.write("empty", "")}),
                  65, {"initrd", "empty"});
}

TEST_CASE("A command line over the limit is refused with status 64", "[cli]") {
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--cmdline", std::string(3000, 'a')}),
                  64, {"command line", "limit"});
}

TEST_CASE("A vCPU count of 0 or above the maximum is refused with status 64", "[cli]") {
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--cpus", "0"}), 64, {"--cpus 0"});
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--cpus", "65"}), 64, {"--cpus 65"});
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--cpus", "two"}), 64, {"--cpus"});
}

TEST_CASE("Malformed or out-of-range memory sizes are refused with status 64", "[cli]") {
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--memory", "12X"}), 64,
                  {"invalid size"});
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--memory", "1M"}), 64,
                  {"out of range"});
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--memory", "99999999999999999999"}),
                  64, {"too large"});
}

TEST_CASE("An unknown option is refused with status 64", "[cli]") {
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--frobnicate"}), 64,
                  {"--frobnicate"});
    check_refusal(wisp({"launch"}), 64, {"launch"});
}

TEST_CASE("A bad console or log level is refused with status 64", "[cli]") {
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--console", "tty"}), 64,
                  {"--console"});
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--log-level", "loud"}), 64,
                  {"--log-level"});
}

TEST_CASE("A missing disk image is refused with status 66", "[cli][disk]") {
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--disk", "/nonexistent/disk.img"}),
                  66, {"disk", "/nonexistent/disk.img", "No such file"});
}

TEST_CASE("A malformed --disk is refused with status 64", "[cli][disk]") {
    TempDir dir;
    auto path = dir.write("disk.img", std::string(4096, 'd'));
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--disk", path + ",readonly"}), 64,
                  {"--disk", "unknown option 'readonly'", "PATH[,ro][,id=NAME]"});
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--disk", ",ro"}), 64,
                  {"--disk", "no path"});
    check_refusal(
        wisp({"run", "--kernel", guest("hello"), "--disk", path + ",id=" + std::string(21, 'x')}),
        64, {"--disk", "limit is 20"});
}

TEST_CASE("An unknown --disk engine is refused with status 64", "[cli][disk]") {
    TempDir dir;
    auto path = dir.write("disk.img", std::string(4096, 'd'));
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--disk", path + ",engine=aio"}), 64,
                  {"unknown engine 'aio'", "engine=sync", "engine=io_uring"});
}

TEST_CASE("engine=io_uring where io_uring is forbidden (seccomp) is refused with status 70",
          "[cli][disk]") {
    TempDir dir;
    auto const contents = vmm::test::random_bytes(8192, 5);
    auto path = dir.write("disk.img", contents);
    // no_io_uring makes io_uring_setup fail with EPERM, as a container's seccomp profile does.
    auto r = run_process({NO_IO_URING, kWisp, "run", "--kernel", guest("hello"), "--disk",
                          path + ",engine=io_uring"});
    check_refusal(r, 70, {"io_uring", "EPERM", "use engine=sync", path});
    CHECK(read_file(path) == contents);
    // The same disk on the sync engine gets past the disks (to /dev/kvm, here missing: 69, or
    // a guest run: 0); either way not refused for io_uring.
    auto sync = run_process({NO_IO_URING, kWisp, "run", "--kernel", guest("hello"), "--disk",
                             path + ",engine=sync", "--kvm-device", "/nonexistent/kvm"});
    CHECK(sync.status == 69);
    CHECK(sync.err.find("io_uring") == std::string::npos);
}

TEST_CASE("A disk image locked by another process is refused and left unchanged",
          "[cli][disk]") {
    TempDir dir;
    auto const contents = vmm::test::random_bytes(8192, 4);
    auto path = dir.write("disk.img", contents);
    int const holder = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // this process holds it
    REQUIRE(holder >= 0);
    REQUIRE(::flock(holder, LOCK_EX | LOCK_NB) == 0);
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--disk", path}), 66,
                  {"disk", path, "locked"});
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--disk", path + ",ro"}), 66,
                  {"locked"});
    ::close(holder);
    CHECK(read_file(path) == contents);
}

TEST_CASE("An absent or unusable KVM device is refused with status 69", "[cli]") {
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--kvm-device", "/nonexistent/kvm"}),
                  69, {"cannot open /nonexistent/kvm"});
    check_refusal(wisp({"run", "--kernel", guest("hello"), "--kvm-device", "/dev/null"}), 69,
                  {"/dev/null is not a KVM device"});
}

TEST_CASE("The --help option prints the options and the exit-status table", "[cli]") {
    auto r = wisp({"run", "--help"});
    CHECK(r.status == 0);
    CHECK(r.out.find("--kernel") != std::string::npos);
    CHECK(r.out.find("Exit status") != std::string::npos);
    CHECK(r.out.find("80") != std::string::npos);
}
