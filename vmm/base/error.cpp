// SPDX-License-Identifier: Apache-2.0
// Error construction and formatting.
#include "vmm/base/result.h"

namespace vmm {

Error Error::from_errno(std::string context, int code, ErrorKind kind) {
    return Error(kind, std::error_code(code, std::generic_category()), std::move(context));
}

std::string Error::message() const {
    if (!m_code) return m_context;
    return fmt::format("{}: {}", m_context, m_code.message());
}

}  // namespace vmm
