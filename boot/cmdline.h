// SPDX-License-Identifier: Apache-2.0
// Cmdline: the guest kernel command line, built from the user's text plus what devices append,
// bounded by the kernel's limit.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "vmm/base/result.h"

namespace vmm::boot {

class Cmdline {
public:
    /// x86 Linux's COMMAND_LINE_SIZE is 2048 including the terminating NUL.
    static constexpr size_t kDefaultCapacity = 2048;

    /// Validates the user's text: printable ASCII only (no NUL, no control characters),
    /// and room for the terminating NUL within capacity.
    static Result<Cmdline> parse(std::string_view text, size_t capacity = kDefaultCapacity);

    /// Appends one space-separated parameter; fails when it would not fit.
    Result<void> append(std::string_view parameter);

    std::string const& str() const { return m_text; }
    size_t capacity() const { return m_capacity; }

private:
    Cmdline(std::string text, size_t capacity) : m_text(std::move(text)), m_capacity(capacity) {}
    std::string m_text;
    size_t m_capacity;
};

}  // namespace vmm::boot
