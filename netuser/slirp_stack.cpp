// SPDX-License-Identifier: Apache-2.0
// SlirpStack: libslirp driven by a poll loop over wisp's frame socket and libslirp's sockets.
#include "netuser/slirp_stack.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <fmt/format.h>
#include <slirp/libslirp.h>
#include <spdlog/spdlog.h>

#include "netuser/protocol.h"

namespace vmm::netuser {

namespace {

// Frames read from the socket per loop turn, so a flood cannot starve libslirp's sockets and
// timers.
constexpr int kFrameBatch = 64;
// guest_error messages logged before the rest are only counted.
constexpr uint64_t kGuestErrorsLogged = 8;

in_addr ipv4(char const* text) {
    in_addr address{};
    inet_pton(AF_INET, text, &address);
    return address;
}

in6_addr ipv6(char const* text) {
    in6_addr address{};
    inet_pton(AF_INET6, text, &address);
    return address;
}

int64_t monotonic_ns() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

int64_t monotonic_ms() { return monotonic_ns() / 1'000'000; }

short to_poll_events(int slirp_events) {
    short events = 0;
    if (slirp_events & SLIRP_POLL_IN) events |= POLLIN;
    if (slirp_events & SLIRP_POLL_OUT) events |= POLLOUT;
    if (slirp_events & SLIRP_POLL_PRI) events |= POLLPRI;
    return events;
}

int to_slirp_events(short revents) {
    int events = 0;
    if (revents & POLLIN) events |= SLIRP_POLL_IN;
    if (revents & POLLOUT) events |= SLIRP_POLL_OUT;
    if (revents & POLLPRI) events |= SLIRP_POLL_PRI;
    if (revents & (POLLERR | POLLNVAL)) events |= SLIRP_POLL_ERR;
    if (revents & POLLHUP) events |= SLIRP_POLL_HUP;
    return events;
}

}  // namespace

struct SlirpCallbacks {
    static SlirpStack& stack(void* opaque) { return *static_cast<SlirpStack*>(opaque); }

    static ssize_t send_packet(void const* buf, size_t len, void* opaque) {
        SlirpStack& self = stack(opaque);
        ssize_t sent = ::send(self.m_socket.get(), buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent >= 0) {
            ++self.m_counters.frames_out;
        } else {
            // A full socket (wisp is behind) drops the frame: TCP retransmits, as on a wire.
            // A closed one ends the loop at its next poll.
            ++self.m_counters.out_dropped;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS && errno != EPIPE &&
                errno != ECONNRESET && self.m_counters.out_dropped == 1)
                spdlog::warn("sending a frame to wisp: {}", std::strerror(errno));
        }
        return static_cast<ssize_t>(len);
    }

    static void guest_error(char const* msg, void* opaque) {
        SlirpStack& self = stack(opaque);
        if (++self.m_counters.guest_errors <= kGuestErrorsLogged)
            spdlog::warn("guest error: {}", msg);
    }

    static int64_t clock_get_ns(void*) { return monotonic_ns(); }

    static void* timer_new(SlirpTimerCb callback, void* callback_opaque, void* opaque) {
        auto timer = std::make_unique<SlirpStack::Timer>(callback, callback_opaque);
        void* handle = timer.get();
        stack(opaque).m_timers.push_back(std::move(timer));
        return handle;
    }

    static void timer_free(void* timer, void* opaque) {
        std::erase_if(stack(opaque).m_timers, [timer](auto const& t) { return t.get() == timer; });
    }

    // expire_ms is on clock_get_ns's clock, in milliseconds.
    static void timer_mod(void* timer, int64_t expire_ms, void*) {
        static_cast<SlirpStack::Timer*>(timer)->expire_ms = std::max<int64_t>(expire_ms, 0);
    }

    static int add_poll(int fd, int events, void* opaque) {
        auto& fds = stack(opaque).m_pollfds;
        fds.push_back(pollfd{.fd = fd, .events = to_poll_events(events), .revents = 0});
        return static_cast<int>(fds.size() - 1);
    }

    static int get_revents(int index, void* opaque) {
        auto& fds = stack(opaque).m_pollfds;
        if (index < 1 || static_cast<size_t>(index) >= fds.size()) return 0;
        return to_slirp_events(fds[static_cast<size_t>(index)].revents);
    }
};

namespace {

// libslirp keeps this pointer for the life of the instance.
SlirpCb const kCallbacks = {
    .send_packet = &SlirpCallbacks::send_packet,
    .guest_error = &SlirpCallbacks::guest_error,
    .clock_get_ns = &SlirpCallbacks::clock_get_ns,
    .timer_new = &SlirpCallbacks::timer_new,
    .timer_free = &SlirpCallbacks::timer_free,
    .timer_mod = &SlirpCallbacks::timer_mod,
    .register_poll_fd = [](int, void*) {},  // every fd comes back through add_poll
    .unregister_poll_fd = [](int, void*) {},
    .notify = [](void*) {},  // one thread: the loop polls again anyway
    .init_completed = nullptr,
    .timer_new_opaque = nullptr,  // timer_new serves every timer
};

}  // namespace

Result<std::unique_ptr<SlirpStack>> SlirpStack::create(UniqueFd socket,
                                                       StackOptions const& options) {
    std::unique_ptr<SlirpStack> self(new SlirpStack(std::move(socket)));
    self->m_frame.resize(kMaxFrame);
    SlirpConfig config{};
    config.version = 4;
    config.restricted = 0;
    config.in_enabled = true;
    config.vnetwork = ipv4("10.0.2.0");
    config.vnetmask = ipv4("255.255.255.0");
    config.vhost = ipv4("10.0.2.2");
    config.in6_enabled = options.ipv6;
    config.vprefix_addr6 = ipv6("fec0::");
    config.vprefix_len = 64;
    config.vhost6 = ipv6("fec0::2");
    config.vdhcp_start = ipv4("10.0.2.15");
    config.vnameserver = ipv4("10.0.2.3");
    config.vnameserver6 = ipv6("fec0::3");
    config.if_mtu = options.mtu;  // 0: the default
    config.if_mru = options.mtu;
    config.disable_host_loopback = false;  // 10.0.2.2 reaches the host's 127.0.0.1, as in QEMU
    config.enable_emu = false;             // libslirp: "not safe"
    self->m_slirp = slirp_new(&config, &kCallbacks, self.get());
    if (!self->m_slirp) return fail(ErrorKind::Host, "libslirp did not start (slirp_new failed)");
    return self;
}

SlirpStack::~SlirpStack() {
    if (m_slirp) slirp_cleanup(m_slirp);  // frees its timers through timer_free
}

Result<void> SlirpStack::add_forward(HostForward const& forward) {
    std::string const where = describe_forward(forward);
    in_addr host{};
    if (inet_pton(AF_INET, forward.host_address.c_str(), &host) != 1)
        return fail(ErrorKind::Usage,
                    fmt::format("host address '{}' is not an IPv4 address in {}",
                                forward.host_address, where));
    errno = 0;
    int const udp = forward.protocol == HostForward::Protocol::Udp;
    if (slirp_add_hostfwd(m_slirp, udp, host, forward.host_port, ipv4("10.0.2.15"),
                          forward.guest_port) == 0)
        return {};
    int const code = errno;
    switch (code) {
    case EADDRINUSE:
        return fail(ErrorKind::Usage,
                    fmt::format("host port {} is already in use: pick another HOSTPORT in {}",
                                forward.host_port, where));
    case EACCES:
        return fail(ErrorKind::Usage,
                    fmt::format("host port {} needs privileges (see sysctl "
                                "net.ipv4.ip_unprivileged_port_start): pick another HOSTPORT in {}",
                                forward.host_port, where));
    case EADDRNOTAVAIL:
        return fail(ErrorKind::Usage,
                    fmt::format("host address {} is not an address of this host: use one it has "
                                "(127.0.0.1, 0.0.0.0, ...) in {}",
                                forward.host_address, where));
    default:
        return fail(ErrorKind::Usage,
                    fmt::format("cannot listen on host {}:{} for {}: {}", forward.host_address,
                                forward.host_port, where,
                                code ? std::strerror(code) : "libslirp refused"));
    }
}

int64_t SlirpStack::run_timers() {
    int64_t const now = monotonic_ms();
    // A callback may re-arm or free timers: collect the due ones first, then check each is
    // still there before running it.
    std::vector<Timer*> due;
    for (auto const& timer : m_timers)
        if (timer->expire_ms >= 0 && timer->expire_ms <= now) due.push_back(timer.get());
    for (Timer* timer : due) {
        bool const alive = std::ranges::any_of(m_timers, [timer](auto const& t) {
            return t.get() == timer;
        });
        if (!alive || timer->expire_ms < 0) continue;
        timer->expire_ms = -1;
        timer->callback(timer->callback_opaque);
    }
    int64_t next = -1;
    int64_t const later = monotonic_ms();
    for (auto const& timer : m_timers)
        if (timer->expire_ms >= 0) {
            int64_t const wait = std::max<int64_t>(timer->expire_ms - later, 0);
            next = next < 0 ? wait : std::min(next, wait);
        }
    return next;
}

bool SlirpStack::read_frames() {
    int const fd = m_socket.get();
    for (int i = 0; i < kFrameBatch; ++i) {
        // MSG_TRUNC: the real length even when the message is longer than the buffer.
        ssize_t const n = ::recv(fd, m_frame.data(), m_frame.size(), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
            if (errno == EINTR) continue;
            if (errno != ECONNRESET) {
                m_socket_failed = true;
                m_socket_errno = errno;
            }
            return false;
        }
        if (n == 0) {
            // An empty message, or the end: SOCK_SEQPACKET says 0 for both. The end is when the
            // peer has hung up and nothing is queued.
            pollfd check{.fd = fd, .events = POLLIN | POLLRDHUP, .revents = 0};
            if (::poll(&check, 1, 0) < 0 || (check.revents & (POLLHUP | POLLRDHUP))) return false;
            ++m_counters.runts;
            continue;
        }
        size_t const length = static_cast<size_t>(n);
        if (length > kMaxFrame) {
            if (m_counters.oversized++ == 0)
                spdlog::warn("dropping a {}-byte frame from the guest (the limit is {}); further "
                             "ones are only counted",
                             length, kMaxFrame);
            continue;
        }
        if (length < kMinFrame) {
            if (m_counters.runts++ == 0)
                spdlog::warn("dropping a {}-byte frame from the guest (shorter than an Ethernet "
                             "header); further ones are only counted",
                             length);
            continue;
        }
        ++m_counters.frames_in;
        slirp_input(m_slirp, m_frame.data(), static_cast<int>(length));
    }
    return true;
}

Result<void> SlirpStack::run() {
    for (;;) {
        int64_t const next_timer = run_timers();
        m_pollfds.clear();
        m_pollfds.push_back(pollfd{.fd = m_socket.get(), .events = POLLIN, .revents = 0});
        uint32_t slirp_timeout = UINT32_MAX;  // libslirp lowers it for its TCP timers
        slirp_pollfds_fill(m_slirp, &slirp_timeout, &SlirpCallbacks::add_poll, this);
        int64_t timeout = slirp_timeout == UINT32_MAX ? -1 : int64_t{slirp_timeout};
        if (next_timer >= 0) timeout = timeout < 0 ? next_timer : std::min(timeout, next_timer);
        timeout = std::min<int64_t>(timeout, INT_MAX);

        int const ready = ::poll(m_pollfds.data(), m_pollfds.size(), static_cast<int>(timeout));
        int const poll_errno = errno;
        if (ready < 0 && poll_errno != EINTR)
            return fail_errno("poll", poll_errno);
        // Also when nothing is ready: this runs libslirp's TCP timers.
        slirp_pollfds_poll(m_slirp, ready < 0, &SlirpCallbacks::get_revents, this);
        if (ready <= 0) continue;

        short const revents = m_pollfds[0].revents;
        if (revents & POLLNVAL) return fail(ErrorKind::Host, "the frame socket is not open");
        bool open = true;
        if (revents & POLLIN) open = read_frames();
        else if (revents & (POLLHUP | POLLERR)) open = false;
        if (m_socket_failed) return fail_errno("receiving a frame from wisp", m_socket_errno);
        if (!open) return {};
    }
}

}  // namespace vmm::netuser
