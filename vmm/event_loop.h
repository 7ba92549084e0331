// SPDX-License-Identifier: Apache-2.0
// EventLoop: one epoll thread serving fds (stdin, ioeventfds, completions, signals).
// add/remove/modify/set_paused are for the loop's own thread (or before run()); stop() is for
// any thread.
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
    /// What a paused loop does with an fd (set_paused): Defer leaves it unserved until resume
    /// (device work: queue notifications, host events, stdin, the kick timer); Serve keeps
    /// serving it (what ends or drives the machine: signals, the exit request, control calls).
    enum class WhilePaused : uint8_t { Defer, Serve };

    static Result<std::unique_ptr<EventLoop>> create();

    Result<void> add(int fd, uint32_t events, Handler handler,
                     WhilePaused paused = WhilePaused::Defer);
    /// While paused, a Defer fd's new events take effect at resume.
    Result<void> modify(int fd, uint32_t events);
    /// Safe from inside a handler, including the handler of fd itself.
    void remove(int fd);
    /// Pausing takes every Defer fd out of the epoll set (so a ready one neither runs nor
    /// spins the loop: epoll reports HUP even for an empty event mask); resuming puts each
    /// back with its events, and epoll reports what became ready meanwhile (level-triggered:
    /// nothing is lost). Safe from inside a handler.
    Result<void> set_paused(bool paused);
    bool paused() const { return m_paused; }
    /// Dispatches until stop() is called.
    Result<void> run();
    void stop() const { m_stop.signal(); }

private:
    EventLoop(UniqueFd epoll, EventFd stop) : m_epoll(std::move(epoll)), m_stop(std::move(stop)) {}
    struct Entry {
        std::shared_ptr<Handler> handler;
        uint32_t events;
        WhilePaused paused;
    };
    UniqueFd m_epoll;
    EventFd m_stop;
    std::map<int, Entry> m_handlers;
    bool m_paused = false;
};

}  // namespace vmm
