// SPDX-License-Identifier: Apache-2.0
// BootTimer implementation.
#include "devices/legacy/boot_timer.h"

#include <algorithm>

namespace vmm::devices {

void BootTimer::read(uint64_t, std::span<uint8_t> data) { std::ranges::fill(data, uint8_t{0}); }

void BootTimer::write(uint64_t offset, std::span<uint8_t const> data) {
    if (offset != 0 || data.empty() || data[0] != kMagic || !m_on_boot) return;
    m_on_boot(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - m_start));
}

}  // namespace vmm::devices
