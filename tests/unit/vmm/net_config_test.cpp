// SPDX-License-Identifier: Apache-2.0
// --net and --id: parse_net's accepted forms and every refusal, the default MAC, and where the
// network devices go among the virtio slots.
#include <catch2/catch.hpp>

#include <cstdlib>

#include <initializer_list>
#include <string>
#include <variant>
#include <vector>

#include "vmm/cli.h"
#include "vmm/exit_status.h"
#include "vmm/virtio_setup.h"

using namespace vmm;

namespace {

ParsedCommandLine parse(std::initializer_list<char const*> args) {
    std::vector<char const*> argv{"wisp"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(nullptr);
    return parse_command_line(static_cast<int>(argv.size() - 1), argv.data());
}

std::string refusal(std::string const& text) {
    auto net = parse_net(text);
    REQUIRE_FALSE(net.has_value());
    CHECK(net.error().kind() == ErrorKind::Usage);
    return net.error().message();
}

}  // namespace

TEST_CASE("parse_net: a tap with and without options", "[cli][net]") {
    auto net = parse_net("tap=tap0");
    REQUIRE(net.has_value());
    CHECK(net->kind == NetKind::Tap);
    CHECK(net->tap == "tap0");
    CHECK_FALSE(net->mac.has_value());
    CHECK(net->mtu == 0);
    net = parse_net("tap=wisp-tap1,mac=52:54:00:ab:CD:ef,mtu=9000");
    REQUIRE(net.has_value());
    CHECK(net->tap == "wisp-tap1");
    REQUIRE(net->mac.has_value());
    CHECK(*net->mac == std::array<uint8_t, 6>{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef});
    CHECK(net->mtu == 9000);
}

TEST_CASE("parse_net: user with QEMU's hostfwd syntax", "[cli][net]") {
    auto net = parse_net("user");
    REQUIRE(net.has_value());
    CHECK(net->kind == NetKind::User);
    CHECK(net->forwards.empty());
    net = parse_net("user,hostfwd=tcp::2222-:22,hostfwd=udp:0.0.0.0:5353-10.0.2.15:53,"
                    "hostfwd=tcp:127.0.0.2:8080-10.0.2.15:80,mac=02:00:00:00:00:01");
    REQUIRE(net.has_value());
    REQUIRE(net->forwards.size() == 3);
    CHECK(net->forwards[0].protocol == HostForward::Protocol::Tcp);
    CHECK(net->forwards[0].host_address == "127.0.0.1");  // the default: loopback only
    CHECK(net->forwards[0].host_port == 2222);
    CHECK(net->forwards[0].guest_port == 22);
    CHECK(net->forwards[1].protocol == HostForward::Protocol::Udp);
    CHECK(net->forwards[1].host_address == "0.0.0.0");
    CHECK(net->forwards[1].host_port == 5353);
    CHECK(net->forwards[1].guest_port == 53);
    CHECK(net->forwards[2].host_address == "127.0.0.2");
    REQUIRE(net->mac.has_value());
    CHECK((*net->mac)[5] == 1);
    // The short form, without the empty host-address field.
    net = parse_net("user,hostfwd=tcp:8080-:80");
    REQUIRE(net.has_value());
    REQUIRE(net->forwards.size() == 1);
    CHECK(net->forwards[0].host_address == "127.0.0.1");
    CHECK(net->forwards[0].host_port == 8080);
    CHECK(net->forwards[0].guest_port == 80);
}

TEST_CASE("parse_net: every malformed value is refused with a way to fix it", "[cli][net]") {
    CHECK_THAT(refusal(""), Catch::Contains("tap=NAME or user"));
    CHECK_THAT(refusal("bridge=br0"), Catch::Contains("tap=NAME or user"));
    CHECK_THAT(refusal("tap="), Catch::Contains("names no tap"));
    CHECK_THAT(refusal("tap=a/b"), Catch::Contains("not an interface name"));
    CHECK_THAT(refusal("tap=sixteen-chars-xy"), Catch::Contains("1 to 15"));
    CHECK_THAT(refusal("tap=t0,mac=01:00:5e:00:00:01"), Catch::Contains("multicast"));
    CHECK_THAT(refusal("tap=t0,mac=52:54:00:12:34"), Catch::Contains("six"));
    CHECK_THAT(refusal("tap=t0,mac=52:54:00:12:34:5"), Catch::Contains("two-digit"));
    CHECK_THAT(refusal("tap=t0,mac=52:54:00:12:34:zz"), Catch::Contains("two-digit"));
    CHECK_THAT(refusal("tap=t0,mac=00:00:00:00:00:00"), Catch::Contains("zeros"));
    CHECK_THAT(refusal("tap=t0,mac=52:54:00:12:34:56,mac=52:54:00:12:34:57"),
               Catch::Contains("twice"));
    CHECK_THAT(refusal("tap=t0,mtu=67"), Catch::Contains("68 to 65535"));
    CHECK_THAT(refusal("tap=t0,mtu=65536"), Catch::Contains("68 to 65535"));
    CHECK_THAT(refusal("tap=t0,mtu=1500x"), Catch::Contains("68 to 65535"));
    CHECK_THAT(refusal("tap=t0,mtu="), Catch::Contains("68 to 65535"));
    CHECK_THAT(refusal("tap=t0,queues=2"), Catch::Contains("unknown option 'queues=2'"));
    CHECK_THAT(refusal("tap=t0,ro"), Catch::Contains("unknown option"));
    CHECK_THAT(refusal("tap=t0,hostfwd=tcp::22-:22"), Catch::Contains("--net user only"));
    CHECK_THAT(refusal("user,hostfwd=tcp::0-:22"), Catch::Contains("host port '0'"));
    CHECK_THAT(refusal("user,hostfwd=tcp::2222-:65536"), Catch::Contains("guest port"));
    CHECK_THAT(refusal("user,hostfwd=tcp::2222-:"), Catch::Contains("guest port"));
    CHECK_THAT(refusal("user,hostfwd=tcp::x-:22"), Catch::Contains("host port"));
    CHECK_THAT(refusal("user,hostfwd=sctp::2222-:22"), Catch::Contains("neither tcp nor udp"));
    CHECK_THAT(refusal("user,hostfwd=tcp:1:2:2222-:22"),
               Catch::Contains("PROTOCOL:[ADDRESS]:PORT"));
    CHECK_THAT(refusal("user,hostfwd=tcp::2222:22"), Catch::Contains("no '-'"));
    CHECK_THAT(refusal("user,hostfwd=tcp:localhost:2222-:22"), Catch::Contains("IPv4"));
    CHECK_THAT(refusal("user,hostfwd=tcp::2222-10.0.2.16:22"), Catch::Contains("10.0.2.15"));
    CHECK_THAT(refusal("user,restrict=on"), Catch::Contains("unknown option"));
    CHECK_THAT(refusal("user,mac=ff:ff:ff:ff:ff:ff"), Catch::Contains("multicast"));
}

TEST_CASE("The --net option is repeatable and --id names the VM", "[cli][net]") {
    auto parsed = parse({"run", "--kernel", "k", "--net", "tap=tap0", "--net",
                         "user,hostfwd=tcp::2222-:22", "--id", "vm7"});
    REQUIRE(std::holds_alternative<RunCommand>(parsed));
    auto const& config = std::get<RunCommand>(parsed).config;
    REQUIRE(config.nets.size() == 2);
    CHECK(config.nets[0].kind == NetKind::Tap);
    CHECK(config.nets[1].kind == NetKind::User);
    CHECK(config.id == "vm7");
    auto defaults = parse({"run", "--kernel", "k"});
    REQUIRE(std::holds_alternative<RunCommand>(defaults));
    CHECK(std::get<RunCommand>(defaults).config.id == "wisp");
    CHECK(std::get<RunCommand>(defaults).config.nets.empty());
}

TEST_CASE("A bad --net or an empty --id ends with the usage status", "[cli][net]") {
    for (auto const* bad : {"tap=", "tap=t0,mtu=10", "user,hostfwd=tcp::1-:99999", "nope"}) {
        auto parsed = parse({"run", "--kernel", "k", "--net", bad});
        REQUIRE(std::holds_alternative<int>(parsed));
        CHECK(std::get<int>(parsed) == exit_status::kUsage);
    }
    auto parsed = parse({"run", "--kernel", "k", "--id", ""});
    REQUIRE(std::holds_alternative<int>(parsed));
    CHECK(std::get<int>(parsed) == exit_status::kUsage);
}

TEST_CASE("derive_mac: stable, unicast, locally administered, distinct per index and id",
          "[net]") {
    auto const a = derive_mac("wisp", 0);
    CHECK(a == derive_mac("wisp", 0));
    CHECK((a[0] & 1) == 0);     // unicast
    CHECK((a[0] & 2) == 2);     // locally administered
    CHECK(a != derive_mac("wisp", 1));
    CHECK(a != derive_mac("vm2", 0));
    for (size_t index = 0; index < 64; ++index) {
        auto const mac = derive_mac("x", index);
        CHECK((mac[0] & 3) == 2);
        CHECK(parse_mac(fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1],
                                    mac[2], mac[3], mac[4], mac[5]))
                  .has_value());
    }
}

TEST_CASE("virtio: network devices come last, after disks, rng and the console",
          "[virtio][vmm][net]") {
    MachineConfig config{.console = {ConsoleKind::Virtio, {}},
                         .disks = {{"a.img"}},
                         .rng = true,
                         .nets = {{NetKind::Tap, "tap0"}, {NetKind::User}}};
    auto slots = virtio_slots(config);
    REQUIRE(slots.has_value());
    REQUIRE(slots->size() == 5);
    CHECK((*slots)[0].kind == VirtioKind::Block);
    CHECK((*slots)[1].kind == VirtioKind::Rng);
    CHECK((*slots)[2].kind == VirtioKind::Console);
    CHECK((*slots)[3].kind == VirtioKind::Net);
    CHECK((*slots)[3].net == 0);
    CHECK((*slots)[3].irq == 9);
    CHECK((*slots)[4].kind == VirtioKind::Net);
    CHECK((*slots)[4].net == 1);
    CHECK((*slots)[4].address == 0xd000'5000);
}

TEST_CASE("virtio: network devices count against the IRQ limit", "[virtio][vmm][net]") {
    MachineConfig config{.disks = {{"a"}, {"b"}, {"c"}, {"d"}, {"e"}}, .rng = true};
    config.nets = {{NetKind::Tap, "t0"}};
    CHECK(virtio_slots(config).has_value());  // 7: the limit
    config.nets.push_back({NetKind::Tap, "t1"});
    auto slots = virtio_slots(config);
    REQUIRE_FALSE(slots.has_value());
    CHECK(slots.error().kind() == ErrorKind::Usage);
}

TEST_CASE("open_nets: user-mode networking without its helper program says where it looked",
          "[net]") {
    char const* const saved = std::getenv("WISP_NET_USER");
    std::string const before = saved != nullptr ? saved : "";
    ::setenv("WISP_NET_USER", "/nonexistent/wisp-net-user", 1);
    MachineConfig config{.nets = {{NetKind::User}}};
    auto nets = open_nets(config);
    if (saved != nullptr)
        ::setenv("WISP_NET_USER", before.c_str(), 1);
    else
        ::unsetenv("WISP_NET_USER");
    REQUIRE_FALSE(nets.has_value());
    CHECK(nets.error().kind() == ErrorKind::Host);
    CHECK_THAT(nets.error().message(), Catch::Contains("/nonexistent/wisp-net-user"));
}

TEST_CASE("open_nets: a tap that does not exist is refused with how to create it", "[net]") {
    MachineConfig config{.nets = {{NetKind::Tap, "wisp-no-such0"}}};
    auto nets = open_nets(config);
    if (nets.has_value()) {
        SUCCEED("this host let wisp create the tap (CAP_NET_ADMIN)");
        return;
    }
    CHECK(nets.error().kind() == ErrorKind::Usage);
    CHECK_THAT(nets.error().message(), Catch::Contains("wisp-no-such0"));
}
