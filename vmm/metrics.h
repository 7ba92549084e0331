// SPDX-License-Identifier: Apache-2.0
// The metrics: the machine's counters as one JSON object, shaped like Firecracker's metrics
// where they map (ARCHITECTURE.md, "Metrics", lists every key). Pure: tests feed it counters.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "devices/legacy/serial_8250.h"
#include "vmm/machine.h"
#include "vmm/machine_config.h"
#include "vmm/vcpu_thread.h"

namespace vmm {

struct MetricsSources {
    std::vector<VcpuExitCounters const*> vcpus;
    devices::Serial8250 const* serial = nullptr;
    std::span<MachineVirtio const> virtio;
    std::span<DiskConfig const> disks;  // for the drive ids of block devices
};

std::string metrics_json(MetricsSources const& sources);

}  // namespace vmm
