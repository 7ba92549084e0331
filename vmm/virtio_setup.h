// SPDX-License-Identifier: Apache-2.0
// The machine's virtio-mmio devices: which ones the config asks for, the window and IRQ each
// gets, the kernel command-line entries that announce them, and their KVM wiring.
#pragma once

#include <cstdint>
#include <vector>

#include "boot/cmdline.h"
#include "vmm/base/result.h"
#include "vmm/machine.h"
#include "vmm/machine_config.h"

namespace vmm {

enum class VirtioKind : uint8_t { Rng };

/// Where one virtio-mmio device sits. Fixed by the config alone, so the command line (written
/// before /dev/kvm is opened) and the devices attached later agree.
struct VirtioSlot {
    VirtioKind kind;
    uint64_t address;
    uint32_t irq;
};

/// Device n (in a fixed order: rng) gets window kVirtioMmioStart + n * kVirtioMmioStride and
/// IRQ kVirtioIrqs[n] (boot/x86_64/layout.h). More devices than IRQs fails (Usage).
Result<std::vector<VirtioSlot>> virtio_slots(MachineConfig const& config);

/// Appends "virtio_mmio.device=0x200@0xd0001000:5" for each slot: how a guest without ACPI
/// finds the devices (Linux's CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
Result<void> append_virtio_cmdline(boot::Cmdline& cmdline, MachineConfig const& config);

/// Creates the devices and puts each transport on the MMIO bus with an irqfd for its IRQ and,
/// per queue, an ioeventfd on QueueNotify (datamatch: the queue index) that the event loop
/// serves, so device work never runs on a vCPU thread.
Result<void> attach_virtio_devices(Machine& machine);

}  // namespace vmm
