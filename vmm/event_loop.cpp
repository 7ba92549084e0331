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

namespace {
Result<void> control(int epoll, int op, int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll, op, fd, &ev) < 0)
        return fail_errno(fmt::format("epoll_ctl {} fd {}",
                                      op == EPOLL_CTL_ADD   ? "add"
                                      : op == EPOLL_CTL_MOD ? "mod"
                                                            : "del",
                                      fd),
                          errno);
    return {};
}
}  // namespace

Result<void> EventLoop::add(int fd, uint32_t events, Handler handler, WhilePaused paused) {
    bool const watched = !m_paused || paused == WhilePaused::Serve;
    if (watched) TRY(control(m_epoll.get(), EPOLL_CTL_ADD, fd, events));
    m_handlers[fd] = Entry{std::make_shared<Handler>(std::move(handler)), events, paused};
    return {};
}

Result<void> EventLoop::modify(int fd, uint32_t events) {
    auto it = m_handlers.find(fd);
    if (it == m_handlers.end()) return control(m_epoll.get(), EPOLL_CTL_MOD, fd, events);
    bool const watched = !m_paused || it->second.paused == WhilePaused::Serve;
    if (watched) TRY(control(m_epoll.get(), EPOLL_CTL_MOD, fd, events));
    it->second.events = events;
    return {};
}

void EventLoop::remove(int fd) {
    auto it = m_handlers.find(fd);
    if (it == m_handlers.end()) return;
    bool const watched = !m_paused || it->second.paused == WhilePaused::Serve;
    m_handlers.erase(it);
    if (watched) ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
}

Result<void> EventLoop::set_paused(bool paused) {
    if (paused == m_paused) return {};
    m_paused = paused;
    // Every fd is tried, so one that fails (closed without remove()) leaves the rest right.
    Result<void> result;
    for (auto const& [fd, entry] : m_handlers) {
        if (entry.paused == WhilePaused::Serve) continue;
        if (paused) {
            ::epoll_ctl(m_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
        } else if (auto added = control(m_epoll.get(), EPOLL_CTL_ADD, fd, entry.events);
                   !added && result) {
            result = std::move(added);
        }
    }
    return result;
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
            // Paused by an earlier handler this round: epoll reports it again after resume.
            if (m_paused && it->second.paused == WhilePaused::Defer) continue;
            auto handler = it->second.handler;  // keeps it alive if it removes itself
            (*handler)(events[i].events);
        }
    }
}

}  // namespace vmm
