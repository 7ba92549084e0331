// SPDX-License-Identifier: Apache-2.0
// IrqLine: how a device raises its interrupt, without knowing about KVM (irqfd in the VMM,
// a counter in tests).
#pragma once

namespace vmm {

class IrqLine {
public:
    virtual ~IrqLine() = default;
    /// An edge on the device's line. Thread-safe.
    virtual void trigger() = 0;
};

}  // namespace vmm
