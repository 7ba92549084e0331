// SPDX-License-Identifier: Apache-2.0
// RtcCmos: the PC's MC146818-style real-time clock and its 128 bytes of CMOS RAM, at ports
// 0x70 (index) and 0x71 (data). The time is read from an injected clock (the host's UTC wall
// clock in wisp); the guest cannot change it. No interrupts: no periodic, alarm or update IRQ 8.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>

#include "vmm/base/bus.h"

namespace vmm::devices {

class RtcCmos final : public BusDevice {
public:
    static constexpr uint16_t kPort = 0x70;
    static constexpr uint64_t kLength = 2;
    static constexpr uint64_t kIndexOffset = 0;
    static constexpr uint64_t kDataOffset = 1;

    // Register indices (MC146818 datasheet; century per the ACPI FADT convention).
    static constexpr uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04, kWeekday = 0x06,
                             kDayOfMonth = 0x07, kMonth = 0x08, kYear = 0x09;
    static constexpr uint8_t kStatusA = 0x0a, kStatusB = 0x0b, kStatusC = 0x0c, kStatusD = 0x0d;
    static constexpr uint8_t kCentury = 0x32;

    static constexpr uint8_t kAUpdateInProgress = 0x80;
    static constexpr uint8_t kADividerMask = 0x70, kADividerNormal = 0x20;
    /// Power-on status A: 32.768 kHz time base, 1024 Hz rate.
    static constexpr uint8_t kADefault = 0x26;
    static constexpr uint8_t kBSet = 0x80, kBUpdateInterrupt = 0x10, kBBinary = 0x04,
                             kB24Hour = 0x02;
    /// Power-on status B: BCD, 24-hour, no interrupts.
    static constexpr uint8_t kBDefault = kB24Hour;
    static constexpr uint8_t kCInterrupt = 0x80, kCUpdate = 0x10;
    static constexpr uint8_t kDValid = 0x80;
    static constexpr uint8_t kHourPm = 0x80;
    /// UIP rises this long before each update (MC146818: t_BUC = 244 us).
    static constexpr std::chrono::microseconds kUpdateLead{244};

    using Clock = std::function<std::chrono::system_clock::time_point()>;

    explicit RtcCmos(Clock clock);

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<uint8_t const> data) override;

private:
    uint8_t read_register(uint8_t index);
    void write_register(uint8_t index, uint8_t value);
    uint8_t encode(unsigned value) const;
    uint8_t encode_hour(unsigned hour) const;

    Clock m_clock;
    std::mutex m_lock;
    std::array<uint8_t, 128> m_ram{};
    uint8_t m_index = 0;
    std::chrono::sys_seconds m_last_c_read;  // for the update-ended flag in status C
};

}  // namespace vmm::devices
