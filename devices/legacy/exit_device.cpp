// SPDX-License-Identifier: Apache-2.0
// ExitDevice implementation.
#include "devices/legacy/exit_device.h"

#include <algorithm>

namespace vmm::devices {

void ExitDevice::read(uint64_t, std::span<uint8_t> data) { std::ranges::fill(data, uint8_t{0}); }

void ExitDevice::write(uint64_t offset, std::span<uint8_t const> data) {
    // Only a write at the port itself counts; the low byte (little endian) is the status.
    if (offset == 0 && !data.empty() && m_on_exit) m_on_exit(data[0]);
}

}  // namespace vmm::devices
