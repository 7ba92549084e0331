// SPDX-License-Identifier: Apache-2.0
// I8042 implementation.
#include "devices/legacy/i8042.h"

#include <algorithm>

namespace vmm::devices {

void I8042::read(uint64_t, std::span<uint8_t> data) {
    // Status 0: output buffer empty, input buffer empty; no keyboard data ever arrives.
    std::ranges::fill(data, uint8_t{0});
}

void I8042::write(uint64_t offset, std::span<uint8_t const> data) {
    if (offset == 4 && !data.empty() && data[0] == kCommandReset && m_on_reset) m_on_reset();
}

}  // namespace vmm::devices
