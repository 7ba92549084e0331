// SPDX-License-Identifier: Apache-2.0
// UniqueFd implementation.
#include "vmm/base/unique_fd.h"

#include <unistd.h>

namespace vmm {

void UniqueFd::reset(int fd) {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = fd;
}

}  // namespace vmm
