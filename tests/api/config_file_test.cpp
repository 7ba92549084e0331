// SPDX-License-Identifier: Apache-2.0
// Firecracker's config file (--config-file) -> VmResources, each refusal, and the way back
// (GET /vm/config).
#include <catch2/catch.hpp>

#include <string>

#include "tests/support/temp_file.h"
#include "vmm/api/resources.h"

namespace {

using namespace vmm;
using namespace vmm::api;

struct Files {
    test::TempDir dir;
    std::string kernel = dir.write("vmlinux", "kernel");
    std::string initrd = dir.write("initrd", "initrd");
    std::string rootfs = dir.write("rootfs.ext4", "root");
    std::string data = dir.write("data.img", "data");
};

std::string good_file(Files const& f) {
    return R"({
      "boot-source": {"kernel_image_path": ")" + f.kernel + R"(", "boot_args": "console=ttyS0 reboot=k",
                      "initrd_path": ")" + f.initrd + R"("},
      "drives": [
        {"drive_id": "data", "path_on_host": ")" + f.data + R"(", "is_root_device": false,
         "is_read_only": true, "io_engine": "Async"},
        {"drive_id": "rootfs", "path_on_host": ")" + f.rootfs + R"(", "is_root_device": true,
         "is_read_only": false, "cache_type": "Writeback"}
      ],
      "machine-config": {"vcpu_count": 2, "mem_size_mib": 256, "smt": false,
                         "track_dirty_pages": true, "huge_pages": "None"},
      "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0",
                              "guest_mac": "06:00:AC:10:00:02", "mtu": 1400}],
      "vsock": {"guest_cid": 3, "uds_path": "/tmp/v.sock"},
      "logger": {"level": "warning", "show_level": true},
      "metrics": {"metrics_path": "/tmp/m.fifo", "emit_id": true, "properties": {"a": "b"}},
      "entropy": {}
    })";
}

}  // namespace

TEST_CASE("A Firecracker config file fills the one MachineConfig model", "[config]") {
    Files f;
    auto parsed = parse_config_file(good_file(f), "vm.json");
    REQUIRE(parsed.has_value());
    MachineConfig const& config = parsed->config;
    CHECK(config.kernel == f.kernel);
    CHECK(config.initrd == f.initrd);
    CHECK(config.cmdline == "console=ttyS0 reboot=k");
    CHECK(config.vcpus == 2);
    CHECK(config.memory == 256ull << 20);
    CHECK(config.rng);
    REQUIRE(config.disks.size() == 2);
    CHECK(config.disks[0].id == "data");
    CHECK(config.disks[0].read_only);
    REQUIRE(config.nets.size() == 1);
    CHECK(config.nets[0].kind == NetKind::Tap);
    CHECK(config.nets[0].tap == "tap0");
    CHECK(config.nets[0].mtu == 1400);
    REQUIRE(config.nets[0].mac.has_value());
    CHECK((*config.nets[0].mac)[2] == 0xAC);
    auto const& api = parsed->api;
    CHECK(api.drives[0].io_engine == "Async");
    CHECK(config.disks[0].engine == DiskEngine::IoUring);  // Firecracker's Async engine
    CHECK(config.disks[1].engine == DiskEngine::Sync);
    CHECK(api.drives[1].cache_type == "Writeback");
    CHECK(api.track_dirty_pages);
    REQUIRE(api.vsock.has_value());
    CHECK(api.vsock->guest_cid == 3);
    REQUIRE(api.logger.has_value());
    CHECK(api.logger->level == "Warning");
    REQUIRE(api.metrics.has_value());
    CHECK(api.metrics->properties.at("a") == "b");
}

TEST_CASE("The root drive starts as vda and root= joins the command line", "[config]") {
    Files f;
    auto parsed = parse_config_file(good_file(f), "vm.json");
    REQUIRE(parsed.has_value());
    MachineConfig const started = machine_config_for_start(*parsed);
    REQUIRE(started.disks.size() == 2);
    CHECK(started.disks[0].id == "rootfs");
    CHECK(started.disks[1].id == "data");
    CHECK(started.cmdline == "console=ttyS0 reboot=k root=/dev/vda rw");
}

TEST_CASE("A root drive with a partuuid is named by it and read-only as asked", "[config]") {
    Files f;
    VmResources resources;
    REQUIRE(apply_drive(resources,
                        Json{{"drive_id", "r"}, {"path_on_host", f.rootfs}, {"is_root_device", true},
                             {"partuuid", "1234-01"}, {"is_read_only", true}},
                        "PUT /drives/r", "r"));
    CHECK(machine_config_for_start(resources).cmdline ==
          std::string(MachineConfig::kDefaultCmdline) + " root=PARTUUID=1234-01 ro");
}

TEST_CASE("GET /vm/config's document reads back as the same configuration", "[config]") {
    Files f;
    auto first = parse_config_file(good_file(f), "vm.json");
    REQUIRE(first.has_value());
    std::string const dumped = vm_config_json(*first).dump();
    auto second = parse_config_file(dumped, "dump");
    INFO(dumped);
    REQUIRE(second.has_value());
    CHECK(vm_config_json(*second) == vm_config_json(*first));
    CHECK(second->config.disks.size() == 2);
    CHECK(second->config.cmdline == first->config.cmdline);
}

TEST_CASE("Without boot_args the default command line is used", "[config]") {
    Files f;
    auto parsed = parse_config_file(
        R"({"boot-source": {"kernel_image_path": ")" + f.kernel + R"("}, "drives": []})", "vm.json");
    REQUIRE(parsed.has_value());
    CHECK(parsed->config.cmdline == MachineConfig::kDefaultCmdline);
    CHECK(parsed->config.vcpus == 1);
}

TEST_CASE("Each bad config file is refused with a message naming what to fix", "[config]") {
    Files f;
    std::string const boot = R"("boot-source": {"kernel_image_path": ")" + f.kernel + R"("})";
    struct Case {
        std::string text;
        std::string expect;
    };
    Case const cases[] = {
        {"", "empty"},
        {"{", "not valid JSON"},
        {"[]", "expected a JSON object"},
        {R"({"drives": []})", "\"boot-source\" is required"},
        {"{" + boot + "}", "\"drives\" is required"},
        {"{" + boot + R"(, "drives": {}})", "\"drives\" must be an array"},
        {"{" + boot + R"(, "drives": [], "bogus": 1})", "unknown field 'bogus'"},
        {R"({"boot-source": {"kernel_image_path": "/no/such/kernel"}, "drives": []})",
         "does not exist"},
        {R"({"boot-source": {"kernel_image_path": 7}, "drives": []})", "must be a string"},
        {R"({"boot-source": {}, "drives": []})", "'kernel_image_path' is required"},
        {"{" + boot + R"(, "drives": [], "machine-config": {"vcpu_count": 0, "mem_size_mib": 128}})",
         "'vcpu_count' must be an integer from 1 to 64, got 0"},
        {"{" + boot + R"(, "drives": [], "machine-config": {"vcpu_count": 65, "mem_size_mib": 128}})",
         "got 65"},
        {"{" + boot + R"(, "drives": [], "machine-config": {"vcpu_count": 1}})",
         "'mem_size_mib' is required"},
        {"{" + boot + R"(, "drives": [], "machine-config": {"vcpu_count": 1, "mem_size_mib": -5}})",
         "got -5"},
        {"{" + boot + R"(, "drives": [], "machine-config": {"vcpu_count": 1, "mem_size_mib": 128, "smt": true}})",
         "'smt' true is not supported"},
        {"{" + boot + R"(, "drives": [], "machine-config": {"vcpu_count": 1, "mem_size_mib": 128, "huge_pages": "2M"}})",
         "\"2M\" is not supported yet"},
        {"{" + boot + R"(, "drives": [{"drive_id": "a", "is_root_device": false}]})",
         "'path_on_host' is required"},
        {"{" + boot + R"(, "drives": [{"drive_id": "a", "path_on_host": "/no/such/disk", "is_root_device": false}]})",
         "does not exist"},
        {"{" + boot + R"(, "drives": [{"drive_id": "a", "path_on_host": ")" + f.data +
             R"(", "is_root_device": true}, {"drive_id": "b", "path_on_host": ")" + f.data +
             R"(", "is_root_device": true}]})",
         "already the root device"},
        {"{" + boot + R"(, "drives": [{"drive_id": "a", "path_on_host": ")" + f.data +
             R"(", "is_root_device": false}, {"drive_id": "a", "path_on_host": ")" + f.data +
             R"(", "is_root_device": false}]})",
         "used twice"},
        {"{" + boot + R"(, "drives": [{"drive_id": "a", "path_on_host": ")" + f.data +
             R"(", "is_root_device": false, "io_engine": "Fast"}]})",
         "must be one of \"Sync\", \"Async\""},
        {"{" + boot + R"(, "drives": [], "network-interfaces": [{"iface_id": "e", "host_dev_name": "tap0", "guest_mac": "zz"}]})",
         "not a MAC address"},
        {"{" + boot + R"(, "drives": [], "network-interfaces": [{"iface_id": "e", "host_dev_name": "tap0", "mtu": 67}]})",
         "from 68 to 65535"},
        {"{" + boot + R"(, "drives": [], "vsock": {"guest_cid": 2, "uds_path": "/x"}})",
         "'guest_cid' must be an integer from 3"},
        {"{" + boot + R"(, "drives": [], "logger": {"level": "Loud"}})", "must be one of"},
        {"{" + boot + R"(, "drives": [], "metrics": {}})", "'metrics_path' is required"},
        {"{" + boot + R"(, "drives": [], "balloon": {"amount_mib": 1, "deflate_on_oom": true}})",
         "\"balloon\" is not implemented in wisp yet"},
        {"{" + boot + R"(, "drives": [], "entropy": {"rate_limiter": {}}})",
         "not supported by wisp yet"},
    };
    for (auto const& c : cases) {
        INFO(c.text);
        auto parsed = parse_config_file(c.text, "vm.json");
        REQUIRE_FALSE(parsed.has_value());
        CHECK(parsed.error().kind() == ErrorKind::Usage);
        CHECK_THAT(parsed.error().message(), Catch::Contains(c.expect));
        CHECK_THAT(parsed.error().message(), Catch::StartsWith("vm.json"));
    }
}

TEST_CASE("MAC addresses are six hex pairs separated by colons", "[config]") {
    CHECK(parse_mac("06:00:ac:10:00:02") == std::array<uint8_t, 6>{6, 0, 0xac, 0x10, 0, 2});
    CHECK_FALSE(parse_mac("06:00:ac:10:00"));
    CHECK_FALSE(parse_mac("06-00-ac-10-00-02"));
    CHECK_FALSE(parse_mac("06:00:ac:10:00:0g"));
}
