// SPDX-License-Identifier: Apache-2.0
// ExitDevice: a guest writes a status to I/O port 0xf4 and wisp ends with that status. This is
// how test guests and the project's initramfs report a result (until ACPI poweroff exists).
#pragma once

#include <cstdint>
#include <functional>

#include "vmm/base/bus.h"

namespace vmm::devices {

class ExitDevice final : public BusDevice {
public:
    static constexpr uint16_t kPort = 0xf4;
    static constexpr uint64_t kLength = 4;

    /// on_exit receives the low 8 bits of the value written (1, 2 or 4 bytes, little endian).
    explicit ExitDevice(std::function<void(uint8_t)> on_exit) : m_on_exit(std::move(on_exit)) {}

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

private:
    std::function<void(uint8_t)> m_on_exit;
};

}  // namespace vmm::devices
