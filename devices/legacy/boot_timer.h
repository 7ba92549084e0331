// SPDX-License-Identifier: Apache-2.0
// BootTimer: a guest writes the byte 123 to MMIO 0xd0000000 (as Firecracker's boot timer, so
// the same guest init scripts work: `devmem 0xd0000000 8 123`) and wisp logs the time since
// its process started.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "vmm/base/bus.h"

namespace vmm::devices {

class BootTimer final : public BusDevice {
public:
    static constexpr uint64_t kAddress = 0xd000'0000;
    static constexpr uint64_t kLength = 0x1000;
    static constexpr uint8_t kMagic = 123;

    using Clock = std::chrono::steady_clock;
    /// on_boot receives the elapsed time, once per magic write.
    BootTimer(Clock::time_point start, std::function<void(std::chrono::microseconds)> on_boot)
        : m_start(start), m_on_boot(std::move(on_boot)) {}

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

private:
    Clock::time_point m_start;
    std::function<void(std::chrono::microseconds)> m_on_boot;
};

}  // namespace vmm::devices
