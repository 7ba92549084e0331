// SPDX-License-Identifier: Apache-2.0
// ConsoleInput implementation.
#include "vmm/console_input.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <spdlog/spdlog.h>

namespace vmm {

bool EscapeFilter::filter(std::span<uint8_t const> in, std::deque<uint8_t>& out) {
    for (uint8_t byte : in) {
        if (m_after_escape) {
            m_after_escape = false;
            if (byte == 'x' || byte == 'X') return true;
            // Ctrl-A Ctrl-A sends one Ctrl-A; Ctrl-A and anything else passes both through.
            if (byte != kEscape) out.push_back(kEscape);
            out.push_back(byte);
            continue;
        }
        if (byte == kEscape) {
            m_after_escape = true;
            continue;
        }
        out.push_back(byte);
    }
    return false;
}

Result<std::unique_ptr<ConsoleInput>> ConsoleInput::create(EventLoop& loop, int fd, Sink sink,
                                                           std::function<void()> on_quit) {
    auto space = TRY(EventFd::create());
    std::unique_ptr<ConsoleInput> input(
        new ConsoleInput(loop, fd, std::move(sink), std::move(on_quit), std::move(space)));
    ConsoleInput* self = input.get();
    TRY(loop.add(self->m_space.fd(), EPOLLIN, [self](uint32_t) {
        self->m_space.consume();
        self->flush();
    }));
    // Served while the machine is paused too, so that Ctrl-A x still ends it; what is typed
    // meanwhile waits for the resume (on_readable).
    auto added = loop.add(fd, EPOLLIN, [self](uint32_t) { self->on_readable(); },
                          EventLoop::WhilePaused::Serve);
    if (added) {
        self->m_registered = true;
    } else if (added.error().code() == std::errc::operation_not_permitted) {
        // A regular file (stdin redirected from a file) cannot be polled: it is always
        // readable, so read it now (up to kMaxFileInput) and feed it as the guest takes it.
        self->read_regular_file();
    } else {
        return std::unexpected(added.error());
    }
    return input;
}

ConsoleInput::~ConsoleInput() {
    m_loop.remove(m_space.fd());
    if (m_registered) m_loop.remove(m_fd);
}

void ConsoleInput::read_regular_file() {
    uint8_t buffer[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = ::read(m_fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        total += static_cast<size_t>(n);
        if (m_escape.filter(std::span(buffer, static_cast<size_t>(n)), m_pending)) {
            if (m_on_quit) m_on_quit();
            break;
        }
        if (total >= kMaxFileInput) {
            spdlog::warn("console input file is larger than {} KiB; the rest is not sent",
                         kMaxFileInput / 1024);
            break;
        }
    }
    flush();
}

void ConsoleInput::on_readable() {
    uint8_t buffer[256];
    ssize_t n = ::read(m_fd, buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {  // EOF or error: the guest keeps running without input
        if (m_registered) m_loop.remove(m_fd);
        m_registered = false;
        m_reading = false;
        return;
    }
    if (m_escape.filter(std::span(buffer, static_cast<size_t>(n)), m_pending)) {
        if (m_on_quit) m_on_quit();
        return;
    }
    if (m_loop.paused()) {
        // The guest's devices must not change while paused: hold the bytes, and have the
        // space eventfd (deferred until the resume) deliver them then. Past kMaxHeldWhilePaused
        // stdin is not read until then.
        m_space.signal();
        set_reading(m_pending.size() < kMaxHeldWhilePaused);
        return;
    }
    flush();
}

void ConsoleInput::flush() {
    while (!m_pending.empty()) {
        std::vector<uint8_t> chunk(m_pending.begin(), m_pending.end());
        size_t taken = m_sink(chunk);
        m_pending.erase(m_pending.begin(), m_pending.begin() + static_cast<ptrdiff_t>(taken));
        if (taken == 0) break;
    }
    // Read more only when everything read so far has reached the guest.
    set_reading(m_pending.empty());
}

void ConsoleInput::set_reading(bool reading) {
    if (!m_registered || reading == m_reading) return;
    m_reading = reading;
    if (!m_loop.modify(m_fd, reading ? uint32_t{EPOLLIN} : 0u))
        spdlog::warn("cannot pause console input; input may be lost");
}

}  // namespace vmm
