// SPDX-License-Identifier: Apache-2.0
// Cmdline implementation.
#include "boot/cmdline.h"

namespace vmm::boot {

namespace {
bool printable(std::string_view text) {
    for (unsigned char c : text)
        if (c < 0x20 || c > 0x7e) return false;
    return true;
}
}  // namespace

Result<Cmdline> Cmdline::parse(std::string_view text, size_t capacity) {
    if (capacity == 0) return fail(ErrorKind::Usage, "the kernel accepts no command line");
    if (!printable(text))
        return fail(ErrorKind::Usage,
                    "the kernel command line may hold only printable ASCII characters");
    if (text.size() + 1 > capacity)
        return fail(ErrorKind::Usage,
                    fmt::format("the kernel command line is {} bytes; the limit is {} (shorten it)",
                                text.size(), capacity - 1));
    return Cmdline(std::string(text), capacity);
}

Result<void> Cmdline::append(std::string_view parameter) {
    if (!printable(parameter) || parameter.empty())
        return fail(ErrorKind::Usage, fmt::format("invalid kernel parameter '{}'", parameter));
    size_t const extra = parameter.size() + (m_text.empty() ? 0 : 1);
    if (m_text.size() + extra + 1 > m_capacity)
        return fail(ErrorKind::Usage,
                    fmt::format("the kernel command line would exceed its limit of {} bytes when "
                                "adding '{}' (shorten --cmdline)",
                                m_capacity - 1, parameter));
    if (!m_text.empty()) m_text += ' ';
    m_text += parameter;
    return {};
}

}  // namespace vmm::boot
