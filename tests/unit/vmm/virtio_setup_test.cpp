// SPDX-License-Identifier: Apache-2.0
// Where virtio devices go (window and IRQ) and how the kernel command line announces them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <iterator>
#include <variant>

#include "boot/x86_64/layout.h"
#include "devices/virtio/mmio_transport.h"
#include "vmm/cli.h"
#include "vmm/virtio_setup.h"

using namespace vmm;
namespace x86 = vmm::boot::x86_64;

TEST_CASE("virtio: no device asked for, no slot and no command-line entry", "[virtio][vmm]") {
    MachineConfig config;
    auto slots = virtio_slots(config);
    REQUIRE(slots.has_value());
    CHECK(slots->empty());
    auto cmdline = boot::Cmdline::parse("console=ttyS0");
    REQUIRE(cmdline.has_value());
    REQUIRE(append_virtio_cmdline(*cmdline, config).has_value());
    CHECK(cmdline->str() == "console=ttyS0");
}

TEST_CASE("virtio: --rng gets the first window and IRQ 5", "[virtio][vmm]") {
    MachineConfig config{.rng = true};
    auto slots = virtio_slots(config);
    REQUIRE(slots.has_value());
    REQUIRE(slots->size() == 1);
    CHECK((*slots)[0].kind == VirtioKind::Rng);
    CHECK((*slots)[0].address == 0xd000'1000);
    CHECK((*slots)[0].irq == 5);
    auto cmdline = boot::Cmdline::parse("console=ttyS0");
    REQUIRE(cmdline.has_value());
    REQUIRE(append_virtio_cmdline(*cmdline, config).has_value());
    CHECK(cmdline->str() == "console=ttyS0 virtio_mmio.device=0x200@0xd0001000:5");
}

TEST_CASE("virtio: a full command line is a usage error", "[virtio][vmm]") {
    MachineConfig config{.rng = true};
    auto cmdline = boot::Cmdline::parse("console=ttyS0", 32);
    REQUIRE(cmdline.has_value());
    auto appended = append_virtio_cmdline(*cmdline, config);
    REQUIRE_FALSE(appended.has_value());
    CHECK(appended.error().kind() == ErrorKind::Usage);
}

TEST_CASE("virtio: the windows stay inside the MMIO hole, clear of the boot timer",
          "[virtio][vmm]") {
    size_t const count = std::size(x86::kVirtioIrqs);
    uint64_t const last = x86::kVirtioMmioStart + (count - 1) * x86::kVirtioMmioStride;
    CHECK(x86::kVirtioMmioStart >= 0xd000'0000 + 0x1000);  // the boot timer's page
    CHECK(last + x86::kVirtioMmioStride <= 0xfec0'0000);   // below the IOAPIC
    CHECK(devices::virtio::MmioTransport::kWindowSize <= x86::kVirtioMmioStride);
    // IRQs the legacy devices use are never handed out.
    for (uint32_t taken : {0u, 1u, 2u, 4u, 8u})
        CHECK(std::ranges::find(x86::kVirtioIrqs, taken) == std::end(x86::kVirtioIrqs));
}

TEST_CASE("virtio: --rng on the command line asks for the device", "[virtio][vmm][cli]") {
    char const* with[] = {"wisp", "run", "--kernel", "k", "--rng", nullptr};
    auto parsed = parse_command_line(5, with);
    REQUIRE(std::holds_alternative<RunCommand>(parsed));
    CHECK(std::get<RunCommand>(parsed).config.rng);
    char const* without[] = {"wisp", "run", "--kernel", "k", nullptr};
    parsed = parse_command_line(4, without);
    REQUIRE(std::holds_alternative<RunCommand>(parsed));
    CHECK_FALSE(std::get<RunCommand>(parsed).config.rng);
}

TEST_CASE("virtio: --console virtio adds a console after the disks and rng", "[virtio][vmm]") {
    MachineConfig config{.console = {ConsoleKind::Virtio, {}}, .rng = true};
    config.disks.push_back({.path = "disk.img"});
    auto slots = virtio_slots(config);
    REQUIRE(slots.has_value());
    REQUIRE(slots->size() == 3);
    CHECK((*slots)[0].kind == VirtioKind::Block);
    CHECK((*slots)[1].kind == VirtioKind::Rng);
    CHECK((*slots)[2].kind == VirtioKind::Console);
    CHECK((*slots)[2].address == 0xd000'3000);
    CHECK((*slots)[2].irq == 7);

    MachineConfig alone{.console = {ConsoleKind::Virtio, {}}};
    slots = virtio_slots(alone);
    REQUIRE(slots.has_value());
    REQUIRE(slots->size() == 1);
    CHECK((*slots)[0].kind == VirtioKind::Console);
    CHECK((*slots)[0].address == 0xd000'1000);

    MachineConfig serial{.console = {ConsoleKind::Stdio, {}}};
    slots = virtio_slots(serial);
    REQUIRE(slots.has_value());
    CHECK(slots->empty());
}
