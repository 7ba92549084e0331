// SPDX-License-Identifier: Apache-2.0
// The API on a real Unix socket (the real HTTP server and request handling, a fake VMM), driven
// by a real client: Debian's curl. Bad input of every kind is answered 400 with a fault_message
// and the server keeps answering; the good path forwards each command to the VMM.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "tests/api/fake_vmm.h"
#include "tests/support/process.h"
#include "tests/support/temp_file.h"
#include "vmm/api/http_server.h"

namespace {

using namespace vmm;
using namespace vmm::api;

struct Reply {
    int status = 0;
    Json body;  // null for an empty body
    std::string raw;
};

class ApiFixture {
public:
    ApiFixture() {
        VmResources resources;
        resources.api.id = "api-test-vm";
        m_handler = std::make_unique<RequestHandler>(vmm, resources, metrics);
        auto server = serve_unix_socket(socket, *m_handler);
        REQUIRE(server.has_value());
        m_server = std::move(*server);
    }
    ~ApiFixture() { m_server->stop(); }

    /// One request through curl; `body_file` sends a file's bytes as the body.
    Reply request(std::string const& method, std::string const& path,
                  std::optional<std::string> const& body = std::nullopt,
                  std::optional<std::string> const& body_file = std::nullopt) {
        std::vector<std::string> argv{CURL_BINARY, "--silent", "--show-error", "--unix-socket",
                                      socket,      "-X",       method,        "-w",
                                      "\n%{http_code}"};
        if (body || body_file) {
            argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary",
                                     body_file ? "@" + *body_file : *body});
        }
        argv.push_back("http://localhost" + path);
        auto result = test::run_process(argv);
        INFO(result.err);
        REQUIRE(result.status == 0);
        auto const newline = result.out.rfind('\n');
        REQUIRE(newline != std::string::npos);
        Reply reply;
        reply.status = std::stoi(result.out.substr(newline + 1));
        reply.raw = result.out.substr(0, newline);
        if (!reply.raw.empty()) reply.body = Json::parse(reply.raw, nullptr, false);
        return reply;
    }

    test::TempDir dir;
    std::string const socket = dir.path() + "/api.sock";
    std::string const kernel = dir.write("vmlinux", "kernel bytes");
    std::string const disk = dir.write("rootfs.ext4", "disk bytes");
    std::string const other_disk = dir.write("other.ext4", "other disk bytes");
    test::FakeVmm vmm;
    Metrics metrics{vmm, "api-test-vm"};

private:
    std::unique_ptr<RequestHandler> m_handler;
    std::unique_ptr<SocketServer> m_server;
};

struct BadRequest {
    std::string method;
    std::string path;
    std::optional<std::string> body;
    std::string expect;  // part of the fault_message
};

void check_refusals(ApiFixture& api, std::vector<BadRequest> const& cases) {
    for (auto const& c : cases) {
        INFO(c.method << " " << c.path << " " << c.body.value_or("(no body)"));
        Reply const reply = api.request(c.method, c.path, c.body);
        INFO(reply.raw);
        CHECK(reply.status == 400);
        REQUIRE(reply.body.is_object());
        REQUIRE(reply.body.contains("fault_message"));
        CHECK_THAT(reply.body["fault_message"].get<std::string>(), Catch::Contains(c.expect));
        Reply const alive = api.request("GET", "/");
        CHECK(alive.status == 200);
    }
}

std::string start_body() { return R"({"action_type": "InstanceStart"})"; }

}  // namespace

TEST_CASE("Malformed API requests are each answered 400 with a fault_message", "[api]") {
    ApiFixture api;
    std::string const boot_ok = R"({"kernel_image_path": ")" + api.kernel + R"("})";
    std::string const drive = R"("path_on_host": ")" + api.disk + R"(")";
    std::vector<BadRequest> const cases{
        {"PUT", "/boot-source", "{", "not valid JSON"},
        {"PUT", "/boot-source", R"({"kernel_image_path": "a",})", "not valid JSON"},
        {"PUT", "/boot-source", "[1, 2]", "expected a JSON object"},
        {"PUT", "/boot-source", R"({"kernel_image_path": ")" + api.kernel + R"(", "kernel": 1})",
         "unknown field 'kernel'"},
        {"PUT", "/boot-source", "{}", "'kernel_image_path' is required"},
        {"PUT", "/boot-source", R"({"kernel_image_path": 12})", "must be a string"},
        {"PUT", "/boot-source", R"({"kernel_image_path": "/no/such/vmlinux"})", "does not exist"},
        {"PUT", "/boot-source", R"({"kernel_image_path": ")" + api.kernel + R"(", "boot_args": false})",
         "'boot_args' must be a string"},
        {"PUT", "/machine-config", R"({"vcpu_count": 0, "mem_size_mib": 128})",
         "from 1 to 64, got 0"},
        {"PUT", "/machine-config", R"({"vcpu_count": -1, "mem_size_mib": 128})", "got -1"},
        {"PUT", "/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 99999999999999999999999})",
         "'mem_size_mib' must be an integer from 4 to 1048576"},
        {"PUT", "/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 18446744073709551615})",
         "got 18446744073709551615"},
        {"PUT", "/machine-config", R"({"vcpu_count": 1.5, "mem_size_mib": 128})", "got 1.5"},
        {"PUT", "/machine-config", R"({"vcpu_count": "2", "mem_size_mib": 128})",
         "got the string \"2\""},
        {"PUT", "/machine-config", R"({"vcpu_count": 1})", "'mem_size_mib' is required"},
        {"PUT", "/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 128, "smt": "no"})",
         "'smt' must be true or false"},
        {"PUT", "/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 128, "smt": true})",
         "'smt' true is not supported"},
        {"PUT", "/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 128, "huge_pages": "Transparent"})",
         "not supported yet"},
        {"PATCH", "/machine-config", R"({"mem_size_mib": 2})", "got 2"},
        {"PUT", "/drives/rootfs", R"({"drive_id": "other", "is_root_device": true, )" + drive + "}",
         "the path says 'rootfs'"},
        {"PUT", "/drives/rootfs", R"({"drive_id": "rootfs", )" + drive + "}",
         "'is_root_device' is required"},
        {"PUT", "/drives/rootfs", R"({"drive_id": "rootfs", "is_root_device": true, "path_on_host": "/no/disk"})",
         "does not exist"},
        {"PUT", "/drives/rootfs",
         R"({"drive_id": "rootfs", "is_root_device": true, "rate_limiter": {}, )" + drive + "}",
         "'rate_limiter' is not supported"},
        {"PATCH", "/drives/rootfs", R"({"drive_id": "rootfs", )" + drive + "}",
         "before InstanceStart use PUT /drives/rootfs"},
        {"PUT", "/network-interfaces/eth0", R"({"iface_id": "eth0"})",
         "'host_dev_name' is required"},
        {"PUT", "/network-interfaces/eth0",
         R"({"iface_id": "eth0", "host_dev_name": "tap0", "mtu": 70000})", "from 68 to 65535"},
        {"PUT", "/network-interfaces/eth0",
         R"({"iface_id": "eth0", "host_dev_name": "a-name-far-too-long-for-a-tap"})",
         "is not a tap interface name"},
        {"PUT", "/vsock", R"({"guest_cid": 2, "uds_path": "/tmp/v.sock"})", "from 3 to"},
        {"PUT", "/logger", R"({"level": "Verbose"})", "must be one of \"Error\""},
        {"PUT", "/metrics", R"({"metrics_path": 5})", "'metrics_path' must be a string"},
        {"PUT", "/metrics", R"({"metrics_path": "/no/such/dir/metrics"})", "cannot be opened"},
        {"PUT", "/entropy", R"({"rate_limiter": {"ops": {"size": 1, "refill_time": 1}}})",
         "not supported by wisp yet"},
        {"PUT", "/actions", R"({"action_type": "Reboot"})", "must be one of \"InstanceStart\""},
        {"PUT", "/actions", "{}", "'action_type' is required"},
        {"PUT", "/actions", R"({"action_type": "FlushMetrics"})", "no metrics file is set"},
        {"PUT", "/actions", R"({"action_type": "SendCtrlAltDel"})", "has not started yet"},
        {"PUT", "/actions", start_body(), "no kernel is configured: PUT /boot-source"},
        {"PATCH", "/vm", R"({"state": "Paused"})", "has not started yet"},
        {"PATCH", "/vm", R"({"state": "Sleeping"})", "must be one of \"Paused\", \"Resumed\""},
        {"GET", "/boot-source", std::nullopt, "GET /boot-source is not allowed: /boot-source takes PUT"},
        {"DELETE", "/drives/rootfs", std::nullopt, "is not allowed"},
        {"POST", "/actions", start_body(), "POST /actions is not allowed"},
        {"PUT", "/", "{}", "PUT / is not allowed"},
        {"GET", "/no/such/thing", std::nullopt, "no such endpoint"},
        {"PUT", "/snapshot/create", R"({"snapshot_path": "a", "mem_file_path": "b"})",
         "wisp does not implement it yet"},
        {"GET", "/balloon", std::nullopt, "wisp does not implement it yet"},
        {"PUT", "/mmds/config", R"({"network_interfaces": []})", "wisp does not implement it yet"},
        {"PATCH", "/network-interfaces/eth0", R"({"iface_id": "eth0"})", "rate limiters"},
    };
    CHECK(cases.size() >= 30);
    check_refusals(api, cases);
    // Nothing refused left a trace in the configuration.
    Reply const config = api.request("GET", "/vm/config");
    REQUIRE(config.status == 200);
    CHECK(config.body["drives"].empty());
    CHECK_FALSE(config.body.contains("boot-source"));
    CHECK(config.body["machine-config"]["vcpu_count"] == 1);
}

TEST_CASE("A body over 51200 bytes is refused with 400 and the server still answers", "[api]") {
    ApiFixture api;
    std::string const big = R"({"boot_args": ")" + std::string(51200, 'x') + R"("})";
    std::string const file = api.dir.write("big.json", big);
    Reply const reply = api.request("PUT", "/boot-source", std::nullopt, file);
    CHECK(reply.status == 400);
    REQUIRE(reply.body.is_object());
    CHECK_THAT(reply.body["fault_message"].get<std::string>(), Catch::Contains("51200 bytes"));
    CHECK(api.request("GET", "/").status == 200);
}

TEST_CASE("Pre-boot calls are refused after InstanceStart and post-boot ones by state",
          "[api]") {
    ApiFixture api;
    std::string const boot = R"({"kernel_image_path": ")" + api.kernel + R"("})";
    std::string const drive =
        R"({"drive_id": "rootfs", "is_root_device": true, "path_on_host": ")" + api.disk + R"("})";
    REQUIRE(api.request("PUT", "/boot-source", boot).status == 204);
    REQUIRE(api.request("PUT", "/drives/rootfs", drive).status == 204);
    REQUIRE(api.request("PUT", "/actions", start_body()).status == 204);
    std::vector<BadRequest> const cases{
        {"PUT", "/boot-source", boot, "already started"},
        {"PUT", "/drives/rootfs", drive, "already started"},
        {"PUT", "/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 256})", "already started"},
        {"PATCH", "/machine-config", R"({"vcpu_count": 2})", "already started"},
        {"PUT", "/network-interfaces/eth0", R"({"iface_id": "eth0", "host_dev_name": "tap0"})",
         "already started"},
        {"PUT", "/vsock", R"({"guest_cid": 3, "uds_path": "/tmp/v"})", "already started"},
        {"PUT", "/entropy", "{}", "already started"},
        {"PUT", "/actions", start_body(), "already started"},
        {"PATCH", "/vm", R"({"state": "Resumed"})", "not paused"},
        {"PATCH", "/drives/data", R"({"drive_id": "data", "path_on_host": ")" + api.disk + R"("})",
         "there is no drive 'data'"},
        {"PATCH", "/drives/rootfs", R"({"drive_id": "rootfs", "path_on_host": "/no/file"})",
         "does not exist"},
        {"PATCH", "/drives/rootfs", R"({"drive_id": "rootfs"})", "'path_on_host' is required"},
    };
    check_refusals(api, cases);
    CHECK(api.vmm.drive_updates.empty());
}

TEST_CASE("InstanceStart that the VMM refuses is a 400 with the VMM's reason", "[api]") {
    ApiFixture api;
    api.vmm.fail_start_with("the kernel is not an ELF or bzImage");
    REQUIRE(api.request("PUT", "/boot-source",
                        R"({"kernel_image_path": ")" + api.kernel + R"("})").status == 204);
    Reply const reply = api.request("PUT", "/actions", start_body());
    CHECK(reply.status == 400);
    CHECK_THAT(reply.body["fault_message"].get<std::string>(),
               Catch::Contains("InstanceStart failed: the kernel is not an ELF or bzImage"));
    CHECK(api.request("GET", "/").body["state"] == "Not started");
}

TEST_CASE("A Firecracker client's boot sequence reaches the VMM", "[api]") {
    ApiFixture api;
    Reply info = api.request("GET", "/");
    REQUIRE(info.status == 200);
    CHECK(info.body["app_name"] == "wisp");
    CHECK(info.body["id"] == "api-test-vm");
    CHECK(info.body["state"] == "Not started");
    CHECK(info.body["vmm_version"].is_string());
    CHECK(api.request("GET", "/version").body["firecracker_version"].is_string());

    std::string const log = api.dir.path() + "/wisp.log";
    std::string const metrics = api.dir.path() + "/metrics.json";
    CHECK(api.request("PUT", "/logger", R"({"log_path": ")" + log + R"(", "level": "Debug"})")
              .status == 204);
    CHECK(api.request("PUT", "/metrics", R"({"metrics_path": ")" + metrics + R"(", "emit_id": true})")
              .status == 204);
    CHECK(api.request("PUT", "/boot-source", R"({"kernel_image_path": ")" + api.kernel +
                                                 R"(", "boot_args": "console=ttyS0 quiet"})")
              .status == 204);
    CHECK(api.request("PUT", "/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 256})")
              .status == 204);
    CHECK(api.request("PATCH", "/machine-config", R"({"mem_size_mib": 512})").status == 204);
    Reply machine = api.request("GET", "/machine-config");
    REQUIRE(machine.status == 200);
    CHECK(machine.body["vcpu_count"] == 2);
    CHECK(machine.body["mem_size_mib"] == 512);
    CHECK(machine.body["smt"] == false);
    CHECK(api.request("PUT", "/drives/data", R"({"drive_id": "data", "is_root_device": false, "is_read_only": true, "path_on_host": ")" +
                                                  api.other_disk + R"("})")
              .status == 204);
    CHECK(api.request("PUT", "/drives/rootfs", R"({"drive_id": "rootfs", "is_root_device": true, "path_on_host": ")" +
                                                    api.disk + R"("})")
              .status == 204);
    CHECK(api.request("PUT", "/network-interfaces/eth0",
                      R"({"iface_id": "eth0", "host_dev_name": "tap7", "guest_mac": "06:00:AC:10:00:02"})")
              .status == 204);
    CHECK(api.request("PUT", "/vsock", R"({"guest_cid": 3, "uds_path": "/tmp/v.sock"})").status == 204);
    CHECK(api.request("PUT", "/entropy", "{}").status == 204);

    REQUIRE(api.request("PUT", "/actions", start_body()).status == 204);
    REQUIRE(api.vmm.started_config.has_value());
    MachineConfig const& started = *api.vmm.started_config;
    CHECK(started.kernel == api.kernel);
    CHECK(started.vcpus == 2);
    CHECK(started.memory == 512ull << 20);
    CHECK(started.cmdline == "console=ttyS0 quiet root=/dev/vda rw");
    REQUIRE(started.disks.size() == 2);
    CHECK(started.disks[0].path == api.disk);
    CHECK(started.disks[1].read_only);
    REQUIRE(started.nets.size() == 1);
    CHECK(started.nets[0].tap == "tap7");
    CHECK(started.rng);
    CHECK(api.request("GET", "/").body["state"] == "Running");

    CHECK(api.request("PATCH", "/vm", R"({"state": "Paused"})").status == 204);
    CHECK(api.request("GET", "/").body["state"] == "Paused");
    CHECK(api.request("PATCH", "/vm", R"({"state": "Resumed"})").status == 204);
    CHECK(api.request("GET", "/").body["state"] == "Running");
    CHECK(api.request("PUT", "/actions", R"({"action_type": "SendCtrlAltDel"})").status == 204);
    CHECK(api.vmm.ctrl_alt_dels == 1);
    CHECK(api.request("PATCH", "/drives/data",
                      R"({"drive_id": "data", "path_on_host": ")" + api.disk + R"("})")
              .status == 204);
    REQUIRE(api.vmm.drive_updates.size() == 1);
    CHECK(api.vmm.drive_updates[0] == std::pair<std::string, std::string>("data", api.disk));

    Reply config = api.request("GET", "/vm/config");
    REQUIRE(config.status == 200);
    CHECK(config.body["boot-source"]["kernel_image_path"] == api.kernel);
    CHECK(config.body["drives"].size() == 2);
    CHECK(config.body["drives"][0]["path_on_host"] == api.disk);  // swapped by the PATCH
    CHECK(config.body["network-interfaces"][0]["host_dev_name"] == "tap7");
    CHECK(config.body["vsock"]["guest_cid"] == 3);
    CHECK(config.body["metrics"]["metrics_path"] == metrics);

    CHECK(api.request("GET", "/nope").status == 400);  // counted as an error below
    REQUIRE(api.request("PUT", "/actions", R"({"action_type": "FlushMetrics"})").status == 204);
    auto const bytes = test::read_file(metrics);
    std::string const text(bytes.begin(), bytes.end());
    REQUIRE(std::count(text.begin(), text.end(), '\n') == 1);
    Json const line = Json::parse(text);
    CHECK(line["id"] == "api-test-vm");
    CHECK(line["vmm"]["block_vda"]["read_count"] == 7);
    CHECK(line["api_server"]["put_actions_count"] == 2);  // start, ctrl-alt-del (not this flush)
    CHECK(line["api_server"]["errors"] == 1);
    CHECK(line["api_server"]["requests"].get<int>() >= 20);
    CHECK(line["utc_timestamp_ms"].is_number_unsigned());

    auto const log_bytes = test::read_file(log);
    CHECK_THAT(std::string(log_bytes.begin(), log_bytes.end()), Catch::Contains("GET /nope"));
}
