// SPDX-License-Identifier: Apache-2.0
// EventFd: a counter fd used for ioeventfd, irqfd and wake-ups between threads.
#pragma once

#include <cstdint>

#include "vmm/base/result.h"
#include "vmm/base/unique_fd.h"

namespace vmm {

class EventFd {
public:
    static Result<EventFd> create(bool nonblocking = true);
    /// Adds one to the counter; safe from any thread. Failure is impossible short of a bug.
    void signal() const;
    /// Reads and clears the counter; 0 when nothing was signalled (non-blocking fd).
    uint64_t consume() const;
    int fd() const { return m_fd.get(); }

private:
    explicit EventFd(UniqueFd fd) : m_fd(std::move(fd)) {}
    UniqueFd m_fd;
};

}  // namespace vmm
