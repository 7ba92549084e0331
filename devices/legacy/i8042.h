// SPDX-License-Identifier: Apache-2.0
// I8042: the PC keyboard controller, reduced to what a microVM needs: the CPU reset request
// (command 0xFE to port 0x64), which Linux uses for reboot=k.
#pragma once

#include <functional>

#include "vmm/base/bus.h"

namespace vmm::devices {

class I8042 final : public BusDevice {
public:
    /// Registered at port 0x60 with length 5, covering 0x60 (data) and 0x64 (command/status).
    static constexpr uint16_t kBasePort = 0x60;
    static constexpr uint64_t kLength = 5;
    static constexpr uint8_t kCommandReset = 0xfe;

    explicit I8042(std::function<void()> on_reset) : m_on_reset(std::move(on_reset)) {}

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

private:
    std::function<void()> m_on_reset;
};

}  // namespace vmm::devices
