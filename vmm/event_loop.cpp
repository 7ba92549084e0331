// SPDX-License-Identifier: Apache-2.0
// EventLoop implementation.
#include "vmm/event_loop.h"

#include <sys/epoll.h>

#include <cerrno>

namespace vmm {

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
    int raw = ::epoll_create1(EPOLL_CLOEXEC);
    if (raw < 0) return fail_errno("epoll_create1", errno);
    UniqueFd epoll(raw);
    auto stop = TRY(EventFd::create());
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = stop.fd();
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, stop.fd(), &ev) < 0)
        return fail_errno("epoll_ctl add stop", errno);
    return std::unique_ptr<EventLoop>(new EventLoop(std::move(epoll), std::move(stop)));
}

Result<void> EventLoop::add(int fd, uint32_t events, Handler handler) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
        return fail_errno(fmt::format("epoll_ctl add fd {}", fd), errno);
    m_handlers[fd] = std::make_shared<Handler>(std::move(handler));
    return {};
}

Result<void> EventLoop::modify(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(m_epoll.get(), EPOLL_CTL_MOD, fd, &ev) < 0)
        return fail_errno(fmt::format("epoll_ctl mod fd {}", fd), errno);
    return {};
}

void EventLoop::remove(int fd) {
    if (m_handlers.erase(fd) > 0) ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
}

Result<void> EventLoop::run() {
    constexpr int kMaxEvents = 32;
    epoll_event events[kMaxEvents];
    for (;;) {
        int n = ::epoll_wait(m_epoll.get(), events, kMaxEvents, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("epoll_wait", errno);
        }
        for (int i = 0; i < n; ++i) {
            int const fd = events[i].data.fd;
            if (fd == m_stop.fd()) {
                m_stop.consume();
                return {};
            }
            auto it = m_handlers.find(fd);
            if (it == m_handlers.end()) continue;  // removed by an earlier handler this round
            auto handler = it->second;             // keeps it alive if it removes itself
            (*handler)(events[i].events);
        }
    }
}

}  // namespace vmm
