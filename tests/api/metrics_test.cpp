// SPDX-License-Identifier: Apache-2.0
// Metrics lines: written periodically on their own, and refused twice, as in Firecracker.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <string>

#include "tests/api/fake_vmm.h"
#include "tests/support/temp_file.h"
#include "vmm/api/metrics.h"

TEST_CASE("Metrics lines are written periodically without a FlushMetrics", "[metrics]") {
    vmm::test::TempDir dir;
    vmm::test::FakeVmm vmm;
    std::string const path = dir.write("metrics.json", "");
    int const inotify_fd = ::inotify_init1(IN_CLOEXEC);
    REQUIRE(inotify_fd >= 0);
    REQUIRE(::inotify_add_watch(inotify_fd, path.c_str(), IN_MODIFY) >= 0);
    {
        vmm::api::Metrics metrics(vmm, "vm-9", std::chrono::milliseconds(20));
        metrics.count_request("get_instance_info", false);
        REQUIRE(metrics.configure({.metrics_path = path, .emit_id = true}));
        // The first periodic line wakes this poll (bounded: a missing line fails the test).
        pollfd fd{inotify_fd, POLLIN, 0};
        REQUIRE(::poll(&fd, 1, 10000) == 1);
        auto again = metrics.configure({.metrics_path = path});
        REQUIRE_FALSE(again.has_value());
        CHECK_THAT(again.error().message(), Catch::Contains("can be set up once"));
    }
    ::close(inotify_fd);
    auto const bytes = vmm::test::read_file(path);
    std::string const text(bytes.begin(), bytes.end());
    REQUIRE_FALSE(text.empty());
    auto const first = vmm::api::Json::parse(text.substr(0, text.find('\n')));
    CHECK(first["id"] == "vm-9");
    CHECK(first["api_server"]["get_instance_info_count"] == 1);
    CHECK(first["vmm"]["vcpu"]["exits_io"] == 3);
}
