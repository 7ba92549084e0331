// SPDX-License-Identifier: Apache-2.0
// EventLoop: one epoll thread serving fds (stdin, ioeventfds, completions, signals).
// add/remove/modify are for the loop's own thread (or before run()); stop() is for any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "vmm/base/event_fd.h"
#include "vmm/base/result.h"
#include "vmm/base/unique_fd.h"

namespace vmm {

class EventLoop {
public:
    using Handler = std::function<void(uint32_t events)>;

    static Result<std::unique_ptr<EventLoop>> create();

    Result<void> add(int fd, uint32_t events, Handler handler);
    Result<void> modify(int fd, uint32_t events);
    /// Safe from inside a handler, including the handler of fd itself.
    void remove(int fd);
    /// Dispatches until stop() is called.
    Result<void> run();
    void stop() const { m_stop.signal(); }

private:
    EventLoop(UniqueFd epoll, EventFd stop) : m_epoll(std::move(epoll)), m_stop(std::move(stop)) {}
    UniqueFd m_epoll;
    EventFd m_stop;
    std::map<int, std::shared_ptr<Handler>> m_handlers;
};

}  // namespace vmm
