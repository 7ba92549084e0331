// SPDX-License-Identifier: Apache-2.0
// build_machine: MachineConfig -> a ready (not yet running) Machine. Everything that can be
// checked without KVM (options, files, images, memory fit) is checked before /dev/kvm is
// opened, so bad input gets the same answer on any host.
#pragma once

#include <chrono>
#include <memory>
#include <span>

#include "boot/elf_loader.h"
#include "boot/x86_64/pvh.h"
#include "vmm/machine.h"
#include "vmm/machine_config.h"

namespace vmm {

/// Checks the options alone (vCPU count, memory size, command line).
Result<void> validate_config(MachineConfig const& config);

/// The guest's memory with kernel, initrd, GDT and PVH start info in place.
struct LoadedGuest {
    GuestMemory memory;
    uint64_t entry;
    uint64_t start_info;
};
Result<LoadedGuest> load_guest(MachineConfig const& config);

Result<std::unique_ptr<Machine>> build_machine(MachineConfig const& config,
                                               std::chrono::steady_clock::time_point start);

}  // namespace vmm
