// SPDX-License-Identifier: Apache-2.0
// ConsoleInput: host stdin -> the guest's serial port, on the event loop. Handles the escape
// sequence (Ctrl-A x ends the VM, Ctrl-A Ctrl-A sends one Ctrl-A) and back-pressure: when the
// UART's FIFO is full, stdin is not read until the guest drains it. While the event loop is
// paused, stdin is still read (so the escape works) and the rest is held until the resume.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>

#include "vmm/base/event_fd.h"
#include "vmm/event_loop.h"

namespace vmm {

/// The escape logic alone, testable without fds.
class EscapeFilter {
public:
    static constexpr uint8_t kEscape = 0x01;  // Ctrl-A
    /// Appends the bytes meant for the guest to out; returns true when the user asked to quit.
    bool filter(std::span<uint8_t const> in, std::deque<uint8_t>& out);

private:
    bool m_after_escape = false;
};

class ConsoleInput {
public:
    /// sink takes bytes and returns how many it accepted.
    using Sink = std::function<size_t(std::span<uint8_t const>)>;

    static Result<std::unique_ptr<ConsoleInput>> create(EventLoop& loop, int fd, Sink sink,
                                                        std::function<void()> on_quit);
    ~ConsoleInput();
    /// Thread-safe: the sink has room again (signals the loop).
    void space_available() const { m_space.signal(); }

private:
    ConsoleInput(EventLoop& loop, int fd, Sink sink, std::function<void()> on_quit, EventFd space)
        : m_loop(loop), m_fd(fd), m_sink(std::move(sink)), m_on_quit(std::move(on_quit)),
          m_space(std::move(space)) {}
    static constexpr size_t kMaxFileInput = 1 << 20;
    static constexpr size_t kMaxHeldWhilePaused = 4096;
    void on_readable();
    void read_regular_file();
    void flush();
    void set_reading(bool reading);

    EventLoop& m_loop;
    int m_fd;
    Sink m_sink;
    std::function<void()> m_on_quit;
    EventFd m_space;
    EscapeFilter m_escape;
    std::deque<uint8_t> m_pending;
    bool m_registered = false;
    bool m_reading = true;
};

}  // namespace vmm
