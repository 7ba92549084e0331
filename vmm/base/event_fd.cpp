// SPDX-License-Identifier: Apache-2.0
// EventFd implementation.
#include "vmm/base/event_fd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace vmm {

Result<EventFd> EventFd::create(bool nonblocking) {
    int fd = ::eventfd(0, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0));
    if (fd < 0) return fail_errno("eventfd", errno);
    return EventFd(UniqueFd(fd));
}

void EventFd::signal() const {
    uint64_t one = 1;
    // EAGAIN only when the counter would overflow; the reader is awake anyway then.
    [[maybe_unused]] ssize_t n = ::write(m_fd.get(), &one, sizeof one);
}

uint64_t EventFd::consume() const {
    uint64_t value = 0;
    if (::read(m_fd.get(), &value, sizeof value) != sizeof value) return 0;
    return value;
}

}  // namespace vmm
