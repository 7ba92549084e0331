// SPDX-License-Identifier: Apache-2.0
// The machine's virtio-mmio devices: which ones the config asks for, the window and IRQ each
// gets, the kernel command-line entries that announce them, and their KVM wiring.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "boot/cmdline.h"
#include "devices/virtio/block/block_engine.h"
#include "devices/virtio/block/disk_image.h"
#include "devices/virtio/net/net_backend.h"
#include "vmm/base/result.h"
#include "vmm/machine.h"
#include "vmm/machine_config.h"

namespace vmm {

enum class VirtioKind : uint8_t { Block, Rng, Console, Net };

/// Where one virtio-mmio device sits. Fixed by the config alone, so the command line (written
/// before /dev/kvm is opened) and the devices attached later agree.
struct VirtioSlot {
    VirtioKind kind;
    uint64_t address;
    uint32_t irq;
    size_t disk = 0;  // Block: index into MachineConfig::disks
    size_t net = 0;   // Net: index into MachineConfig::nets
};

/// Device n (in a fixed order: the disks as given, then rng, then the virtio console of
/// --console virtio, then the network devices as given) gets window kVirtioMmioStart +
/// n * kVirtioMmioStride and IRQ kVirtioIrqs[n] (boot/x86_64/layout.h). More devices than IRQs
/// fails (Usage).
Result<std::vector<VirtioSlot>> virtio_slots(MachineConfig const& config);

/// Appends "virtio_mmio.device=0x200@0xd0001000:5" for each slot: how a guest without ACPI
/// finds the devices (Linux's CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
Result<void> append_virtio_cmdline(boot::Cmdline& cmdline, MachineConfig const& config);

/// Opens and locks every --disk image (devices/virtio/block/disk_image.h), in order, and puts
/// its engine on it (an io_uring that cannot be set up fails with ErrorKind::Host, saying to
/// use engine=sync; never a silent fallback). Runs before /dev/kvm is opened, so an unusable
/// image is refused the same way on every host.
Result<std::vector<std::unique_ptr<devices::virtio::BlockEngine>>> open_disks(
    MachineConfig const& config);

/// The backends of every --net, in order: a tap is attached (TapBackend::open), user-mode
/// networking starts its helper (vmm/user_net.h). Runs before /dev/kvm is opened, so a tap
/// that does not exist or may not be used is refused (Usage) before the guest starts.
Result<std::vector<std::unique_ptr<devices::virtio::NetBackend>>> open_nets(
    MachineConfig const& config);

/// The MAC of network device `index` when --net gives none: locally administered, unicast,
/// and the same for the same VM id and index on every run (a hash of both).
std::array<uint8_t, 6> derive_mac(std::string_view vm_id, size_t index);

/// Creates the devices (the disks on `disks`, from open_disks; the network devices on `nets`,
/// from open_nets) and puts each transport on the
/// MMIO bus with an irqfd for its IRQ and, per queue, an ioeventfd on QueueNotify (datamatch:
/// the queue index) that the event loop serves, so device work never runs on a vCPU thread.
Result<void> attach_virtio_devices(
    Machine& machine, std::vector<std::unique_ptr<devices::virtio::BlockEngine>> disks,
    std::vector<std::unique_ptr<devices::virtio::NetBackend>> nets = {});

}  // namespace vmm
