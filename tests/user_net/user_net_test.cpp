// SPDX-License-Identifier: Apache-2.0
// start_user_network and the real wisp-net-user helper (libslirp), with the test as the guest:
// it sends Ethernet frames on the socket and reads the helper's. No KVM needed. Every wait is a
// poll with a deadline, never a sleep.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "netuser/protocol.h"
#include "tests/support/net_frames.h"
#include "tests/support/temp_file.h"
#include "vmm/user_net.h"

using namespace vmm;
using namespace vmm::test;
using namespace std::chrono_literals;

namespace {

constexpr Mac kGuestMac{0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
constexpr Mac kGatewayMac{0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};  // libslirp's, for 10.0.2.2
constexpr uint32_t kGuestIp = ipv4(10, 0, 2, 15);
constexpr uint32_t kGatewayIp = ipv4(10, 0, 2, 2);
constexpr uint32_t kDnsIp = ipv4(10, 0, 2, 3);

// Points start_user_network at the helper this build made (it would look next to the test).
struct UseBuiltHelper {
    UseBuiltHelper() { setenv("WISP_NET_USER", WISP_NET_USER_BINARY, 1); }
};
UseBuiltHelper const g_use_built_helper;

// A port nobody listens on now (the kernel's pick for port 0).
uint16_t free_port(int type = SOCK_STREAM) {
    int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    ::close(fd);
    return ntohs(address.sin_port);
}

UniqueFd listen_on(uint16_t port) {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{.sin_family = AF_INET, .sin_port = htons(port),
                        .sin_addr = {htonl(INADDR_LOOPBACK)}};
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd.get(), 4) == 0);
    return fd;
}

bool readable(int fd, std::chrono::milliseconds timeout) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

// Waits for a process (not necessarily our child) to end, through a pidfd.
bool process_ends(pid_t pid, std::chrono::milliseconds timeout) {
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) return errno == ESRCH;  // already gone
    bool const ended = readable(pidfd, timeout);
    ::close(pidfd);
    return ended;
}

// The test's side of a running helper: the guest's end of the wire.
class Wire {
public:
    explicit Wire(NetConfig const& config = NetConfig{}) {
        auto started = start_user_network(config);
        if (!started) FAIL("start_user_network: " << started.error().message());
        m_net = std::move(*started);
    }
    ~Wire() {
        m_net.socket.reset();
        if (m_net.pid > 0) {
            bool const ended = process_ends(m_net.pid, 10s);
            if (!ended) ::kill(m_net.pid, SIGKILL);
            ::waitpid(m_net.pid, nullptr, 0);
        }
    }
    Wire(Wire const&) = delete;
    Wire& operator=(Wire const&) = delete;

    UserNetwork& net() { return m_net; }

    void send(Frame const& frame) {
        REQUIRE(::send(m_net.socket.get(), frame.data(), frame.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(frame.size()));
    }

    // The next frame the helper sends for which `match` holds, answering libslirp's ARP
    // requests for the guest's address on the way; nullopt after `timeout`.
    std::optional<Frame> wait_for(std::function<bool(Frame const&)> const& match,
                                  std::chrono::milliseconds timeout = 10s) {
        auto const deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto const left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !readable(m_net.socket.get(), left)) return std::nullopt;
            Frame frame(65536);
            ssize_t const n = ::recv(m_net.socket.get(), frame.data(), frame.size(), 0);
            if (n <= 0) return std::nullopt;
            frame.resize(static_cast<size_t>(n));
            if (auto arp = parse_arp(frame); arp && arp->op == 1 && arp->target_ip == kGuestIp)
                send(arp_reply(kGuestMac, kGuestIp, arp->sender_mac, arp->sender_ip));
            if (match(frame)) return frame;
        }
    }

    // The guest takes its address as a DHCP client would begin to: DISCOVER, then the OFFER.
    DhcpReply discover() {
        send(dhcp_discover(kGuestMac, 0x5157));
        auto offer = wait_for([](Frame const& f) { return parse_dhcp_reply(f).has_value(); });
        REQUIRE(offer);
        return *parse_dhcp_reply(*offer);
    }

private:
    UserNetwork m_net;
};

HostForward tcp_forward(uint16_t host_port, uint16_t guest_port) {
    return HostForward{.protocol = HostForward::Protocol::Tcp, .host_port = host_port,
                       .guest_port = guest_port};
}

HostForward udp_forward(uint16_t host_port, uint16_t guest_port) {
    return HostForward{.protocol = HostForward::Protocol::Udp, .host_port = host_port,
                       .guest_port = guest_port};
}

// A UDP socket bound to address:port (port 0: the kernel picks one).
UniqueFd udp_socket(uint32_t address = INADDR_LOOPBACK, uint16_t port = 0) {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    sockaddr_in bound{.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(address)}};
    INFO("bind: " << std::strerror(errno));
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&bound), sizeof bound) == 0);
    return fd;
}

uint16_t port_of(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    return ntohs(address.sin_port);
}

std::vector<uint8_t> bytes_of(std::string const& text) { return {text.begin(), text.end()}; }

// The next datagram on fd within the timeout, with its sender.
std::optional<std::pair<std::string, sockaddr_in>> receive_datagram(int fd) {
    if (!readable(fd, 10s)) return std::nullopt;
    char buffer[2048];
    sockaddr_in from{};
    socklen_t length = sizeof from;
    ssize_t const n = ::recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from),
                                 &length);
    if (n < 0) return std::nullopt;
    return std::pair{std::string(buffer, static_cast<size_t>(n)), from};
}

// Waits for a UDP datagram the helper sends to the guest's port.
std::optional<UdpDatagram> wait_for_udp(Wire& wire, uint16_t guest_port) {
    auto frame = wire.wait_for([guest_port](Frame const& f) {
        auto udp = parse_udp(f);
        return udp && udp->dst_port == guest_port;
    });
    if (!frame) return std::nullopt;
    return parse_udp(*frame);
}

}  // namespace

TEST_CASE("hostfwd arguments round-trip between wisp and its helper") {
    HostForward forward{.protocol = HostForward::Protocol::Udp, .host_address = "0.0.0.0",
                        .host_port = 5353, .guest_port = 53};
    CHECK(netuser::format_forward(forward) == "udp:0.0.0.0:5353-:53");
    auto parsed = netuser::parse_forward("udp:0.0.0.0:5353-:53");
    REQUIRE(parsed);
    CHECK(parsed->protocol == HostForward::Protocol::Udp);
    CHECK(parsed->host_address == "0.0.0.0");
    CHECK(parsed->host_port == 5353);
    CHECK(parsed->guest_port == 53);
    CHECK(netuser::describe_forward(tcp_forward(8080, 80)) == "hostfwd=tcp::8080-:80");
    for (char const* bad : {"", "tcp:", "tcp:8080-:80", "sctp:127.0.0.1:1-:2", "tcp:1.2.3.4:0-:80",
                            "tcp:1.2.3.4:80-:65536", "tcp:1.2.3.4:80-80", "tcp::80-:80",
                            "tcp:1.2.3.4:8x-:80"})
        CHECK_FALSE(netuser::parse_forward(bad));
    CHECK(netuser::parse_status("ready\n")->kind == netuser::StatusReport::Kind::Ready);
    auto usage = netuser::parse_status(netuser::format_status(
        {netuser::StatusReport::Kind::Usage, "host port 1 is already in use"}));
    REQUIRE(usage);
    CHECK(usage->kind == netuser::StatusReport::Kind::Usage);
    CHECK(usage->message == "host port 1 is already in use");
    CHECK_FALSE(netuser::parse_status("whatever"));
}

TEST_CASE("user network: a DHCP DISCOVER gets an OFFER of 10.0.2.15 with gateway and DNS") {
    Wire wire;
    DhcpReply offer = wire.discover();
    CHECK(offer.type == 2);  // DHCPOFFER
    CHECK(offer.xid == 0x5157);
    CHECK(offer.yiaddr == kGuestIp);
    CHECK(offer.server_id == kGatewayIp);
    CHECK(offer.router == kGatewayIp);
    CHECK(offer.dns == kDnsIp);
}

TEST_CASE("user network: ARP for the gateway 10.0.2.2 gets a reply") {
    Wire wire;
    wire.send(arp_request(kGuestMac, kGuestIp, kGatewayIp));
    auto reply = wire.wait_for([](Frame const& f) {
        auto arp = parse_arp(f);
        return arp && arp->op == 2;
    });
    REQUIRE(reply);
    auto arp = *parse_arp(*reply);
    CHECK(arp.sender_ip == kGatewayIp);
    CHECK(arp.sender_mac == kGatewayMac);
    CHECK(arp.target_ip == kGuestIp);
    CHECK(arp.target_mac == kGuestMac);
}

TEST_CASE("user network: a host connection to a hostfwd port reaches the guest's port 80, "
          "data both ways") {
    uint16_t const port = free_port();
    NetConfig config;
    config.forwards.push_back(tcp_forward(port, 80));
    Wire wire(config);
    CHECK(wire.discover().yiaddr == kGuestIp);

    UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{.sin_family = AF_INET, .sin_port = htons(port),
                        .sin_addr = {htonl(INADDR_LOOPBACK)}};
    REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);

    // libslirp opens the guest side: ARP for 10.0.2.15 (wait_for answers it), then a SYN.
    auto syn_frame = wire.wait_for([](Frame const& f) {
        auto tcp = parse_tcp(f);
        return tcp && tcp->dst_port == 80 && (tcp->flags & kTcpSyn);
    });
    REQUIRE(syn_frame);
    TcpSegment const syn = *parse_tcp(*syn_frame);
    CHECK(syn.dst_ip == kGuestIp);
    CHECK(syn.dst_mac == kGuestMac);
    CHECK_FALSE(syn.flags & kTcpAck);

    // Play the guest's TCP: SYN-ACK, then the host's bytes arrive and ours go back.
    uint32_t const our_seq = 1000;
    TcpSegment reply{.src_mac = kGuestMac, .dst_mac = syn.src_mac, .src_ip = kGuestIp,
                     .dst_ip = syn.src_ip, .src_port = 80, .dst_port = syn.src_port,
                     .seq = our_seq, .ack = syn.seq + 1, .flags = kTcpSyn | kTcpAck,
                     .window = 65535};
    wire.send(tcp_frame(reply));
    std::string const request = "GET / from the host";
    REQUIRE(::send(client.get(), request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()));
    auto data_frame = wire.wait_for([](Frame const& f) {
        auto tcp = parse_tcp(f);
        return tcp && tcp->dst_port == 80 && !tcp->payload.empty();
    });
    REQUIRE(data_frame);
    TcpSegment const data = *parse_tcp(*data_frame);
    CHECK(std::string(data.payload.begin(), data.payload.end()) == request);
    CHECK(data.seq == syn.seq + 1);

    std::string const answer = "hello from the guest";
    reply.seq = our_seq + 1;
    reply.ack = data.seq + static_cast<uint32_t>(data.payload.size());
    reply.flags = kTcpAck | kTcpPsh;
    reply.payload.assign(answer.begin(), answer.end());
    wire.send(tcp_frame(reply));
    REQUIRE(readable(client.get(), 10s));
    char buffer[64] = {};
    ssize_t const n = ::recv(client.get(), buffer, sizeof buffer, 0);
    CHECK(std::string(buffer, static_cast<size_t>(std::max<ssize_t>(n, 0))) == answer);
}

TEST_CASE("user network: the guest reaches a host service on 127.0.0.1 through 10.0.2.2") {
    uint16_t const port = free_port();
    UniqueFd server = listen_on(port);
    Wire wire;
    wire.send(tcp_frame(TcpSegment{.src_mac = kGuestMac, .dst_mac = kGatewayMac,
                                   .src_ip = kGuestIp, .dst_ip = kGatewayIp, .src_port = 40000,
                                   .dst_port = port, .seq = 7, .flags = kTcpSyn,
                                   .window = 65535}));
    REQUIRE(readable(server.get(), 10s));  // the helper connected on the guest's behalf
    UniqueFd accepted(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
    CHECK(accepted);
    auto syn_ack = wire.wait_for([](Frame const& f) {
        auto tcp = parse_tcp(f);
        return tcp && tcp->dst_port == 40000;
    });
    REQUIRE(syn_ack);
    auto tcp = *parse_tcp(*syn_ack);
    CHECK(tcp.flags == (kTcpSyn | kTcpAck));
    CHECK(tcp.ack == 8);
}

TEST_CASE("user network: a UDP hostfwd carries a datagram to the guest's port and its answer "
          "back") {
    uint16_t const port = free_port(SOCK_DGRAM);
    NetConfig config;
    config.forwards.push_back(udp_forward(port, 5353));
    Wire wire(config);
    CHECK(wire.discover().yiaddr == kGuestIp);

    UniqueFd client = udp_socket();
    sockaddr_in forward{.sin_family = AF_INET, .sin_port = htons(port),
                        .sin_addr = {htonl(INADDR_LOOPBACK)}};
    std::string const question = "datagram from the host";
    REQUIRE(::sendto(client.get(), question.data(), question.size(), 0,
                     reinterpret_cast<sockaddr*>(&forward), sizeof forward) ==
            static_cast<ssize_t>(question.size()));
    auto in = wait_for_udp(wire, 5353);
    REQUIRE(in);
    CHECK(in->dst_ip == kGuestIp);
    CHECK(in->dst_mac == kGuestMac);
    CHECK(std::string(in->payload.begin(), in->payload.end()) == question);

    std::string const answer = "datagram from the guest";
    wire.send(udp_frame(UdpDatagram{.src_mac = kGuestMac, .dst_mac = in->src_mac,
                                    .src_ip = kGuestIp, .dst_ip = in->src_ip, .src_port = 5353,
                                    .dst_port = in->src_port, .payload = bytes_of(answer)}));
    auto back = receive_datagram(client.get());
    REQUIRE(back);
    CHECK(back->first == answer);
    CHECK(ntohs(back->second.sin_port) == port);
}

TEST_CASE("user network: the guest's UDP datagram to 10.0.2.2 reaches a host socket on "
          "127.0.0.1, and the answer comes back") {
    UniqueFd server = udp_socket();
    uint16_t const port = port_of(server.get());
    Wire wire;
    CHECK(wire.discover().yiaddr == kGuestIp);
    std::string const question = "outbound datagram";
    wire.send(udp_frame(UdpDatagram{.src_mac = kGuestMac, .dst_mac = kGatewayMac,
                                    .src_ip = kGuestIp, .dst_ip = kGatewayIp, .src_port = 40001,
                                    .dst_port = port, .payload = bytes_of(question)}));
    auto got = receive_datagram(server.get());
    REQUIRE(got);
    CHECK(got->first == question);

    std::string const answer = "answer from the host";
    REQUIRE(::sendto(server.get(), answer.data(), answer.size(), 0,
                     reinterpret_cast<sockaddr*>(&got->second), sizeof got->second) ==
            static_cast<ssize_t>(answer.size()));
    auto back = wait_for_udp(wire, 40001);
    REQUIRE(back);
    CHECK(back->src_ip == kGatewayIp);
    CHECK(back->src_port == port);
    CHECK(back->dst_ip == kGuestIp);
    CHECK(std::string(back->payload.begin(), back->payload.end()) == answer);
}

TEST_CASE("user network: mtu= sets the TCP MSS libslirp announces to the guest") {
    auto const mss_of_forwarded_syn = [](uint16_t mtu) -> uint16_t {
        uint16_t const port = free_port();
        NetConfig config;
        config.mtu = mtu;
        config.forwards.push_back(tcp_forward(port, 80));
        Wire wire(config);
        CHECK(wire.discover().yiaddr == kGuestIp);
        UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in address{.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr = {htonl(INADDR_LOOPBACK)}};
        REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) ==
                0);
        auto syn = wire.wait_for([](Frame const& f) {
            auto tcp = parse_tcp(f);
            return tcp && tcp->dst_port == 80 && (tcp->flags & kTcpSyn);
        });
        REQUIRE(syn);
        return parse_tcp(*syn)->mss;
    };
    CHECK(mss_of_forwarded_syn(0) == 1460);  // the default MTU, 1500
    CHECK(mss_of_forwarded_syn(1400) == 1360);
    CHECK(mss_of_forwarded_syn(9000) == 8960);
}

// libslirp sends what the guest asks of 10.0.2.3:53 to the first nameserver of the host's
// /etc/resolv.conf. The test points that at a server of its own: the helper runs in a mount
// namespace (unshare) where a file of the test's is bind-mounted over /etc/resolv.conf, and
// the test answers on 127.0.0.53:53 (an address of the loopback network). Both need root.
TEST_CASE("user network: DNS to 10.0.2.3 is forwarded to the host's nameserver and the answer "
          "comes back from 10.0.2.3") {
    if (::geteuid() != 0) {
        std::printf("SKIPPED: making a mount namespace and binding port 53 need root\n");
        std::fflush(stdout);
        std::_Exit(77);
    }
    constexpr uint32_t kNameserver = ipv4(127, 0, 0, 53);
    UniqueFd nameserver = udp_socket(kNameserver, 53);
    TempDir dir;
    std::string const resolv = dir.write("resolv.conf", "nameserver 127.0.0.53\n");
    std::string const wrapper = dir.write(
        "helper",
        fmt::format("#!/bin/sh\n"
                    "exec unshare --mount --propagation private /bin/sh -c "
                    "'mount --bind \"$1\" /etc/resolv.conf && shift && exec \"$@\"' sh {} {} \"$@\"\n",
                    resolv, WISP_NET_USER_BINARY));
    REQUIRE(::chmod(wrapper.c_str(), 0755) == 0);
    setenv("WISP_NET_USER", wrapper.c_str(), 1);
    struct Restore {
        ~Restore() { setenv("WISP_NET_USER", WISP_NET_USER_BINARY, 1); }
    } restore;

    Wire wire;
    DhcpReply const offer = wire.discover();
    CHECK(offer.dns == kDnsIp);
    // A query for example.org's A record (RFC 1035 layout); the server answers with its own bytes.
    std::vector<uint8_t> const query{0x12, 0x34, 1,   0,   0, 1, 0,   0,   0, 0, 0, 0,
                                     7,    'e',  'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g',
                                     0,    0,    1,   0,   1};
    wire.send(udp_frame(UdpDatagram{.src_mac = kGuestMac, .dst_mac = kGatewayMac,
                                    .src_ip = kGuestIp, .dst_ip = kDnsIp, .src_port = 33333,
                                    .dst_port = 53, .payload = query}));
    auto asked = receive_datagram(nameserver.get());
    REQUIRE(asked);
    CHECK(std::vector<uint8_t>(asked->first.begin(), asked->first.end()) == query);
    std::vector<uint8_t> response = query;
    response[2] = 0x81;  // a response, recursion desired
    response[3] = 0x80;  // recursion available, no error
    REQUIRE(::sendto(nameserver.get(), response.data(), response.size(), 0,
                     reinterpret_cast<sockaddr*>(&asked->second), sizeof asked->second) ==
            static_cast<ssize_t>(response.size()));
    auto answer = wait_for_udp(wire, 33333);
    REQUIRE(answer);
    CHECK(answer->src_ip == kDnsIp);
    CHECK(answer->src_port == 53);
    CHECK(answer->payload == response);
}

TEST_CASE("user network: a hostfwd port already in use is a usage error naming the port") {
    uint16_t const port = free_port();
    UniqueFd taken = listen_on(port);
    NetConfig config;
    config.forwards.push_back(tcp_forward(port, 80));
    auto started = start_user_network(config);
    REQUIRE_FALSE(started);
    INFO(started.error().message());
    CHECK(started.error().kind() == ErrorKind::Usage);
    std::string const message = started.error().message();
    CHECK(message.find(fmt::format("host port {} is already in use", port)) != std::string::npos);
    CHECK(message.find(fmt::format("hostfwd=tcp::{}-:80", port)) != std::string::npos);
}

TEST_CASE("user network: a host address that is not IPv4 is a usage error") {
    NetConfig config;
    config.forwards.push_back(tcp_forward(free_port(), 80));
    config.forwards.back().host_address = "localhost";
    auto started = start_user_network(config);
    REQUIRE_FALSE(started);
    CHECK(started.error().kind() == ErrorKind::Usage);
    CHECK(started.error().message().find("'localhost' is not an IPv4 address") !=
          std::string::npos);
}

TEST_CASE("user network: a missing helper is an error that says where wisp looked") {
    setenv("WISP_NET_USER", "/nonexistent/wisp-net-user", 1);
    auto started = start_user_network(NetConfig{});
    setenv("WISP_NET_USER", WISP_NET_USER_BINARY, 1);
    REQUIRE_FALSE(started);
    INFO(started.error().message());
    CHECK(started.error().message().find("/nonexistent/wisp-net-user") != std::string::npos);
    CHECK(started.error().message().find("WISP_NET_USER") != std::string::npos);
}

TEST_CASE("user network: a flood of malformed frames does not kill the helper") {
    Wire wire;
    std::mt19937 random(1234);  // fixed: a failure can be replayed
    auto const byte = [&] { return static_cast<uint8_t>(random()); };
    // Runts, an oversized frame, and garbage behind valid Ethernet, ARP, IPv4 and IPv6 types.
    for (size_t size = 0; size < 14; ++size) wire.send(Frame(size, 0xab));
    wire.send(Frame(70000, 0x45));
    for (int i = 0; i < 5000; ++i) {
        Frame frame(14 + random() % 1600);
        std::ranges::generate(frame, byte);
        uint16_t const types[] = {kEtherIpv4, kEtherArp, 0x86dd, static_cast<uint16_t>(random())};
        uint16_t const type = types[i % 4];
        frame[12] = static_cast<uint8_t>(type >> 8);
        frame[13] = static_cast<uint8_t>(type);
        if (type == kEtherIpv4 && frame.size() > 34) frame[14] = 0x45;  // past the version check
        wire.send(frame);
    }
    // Truncated headers: every length of a valid TCP SYN and DHCP DISCOVER.
    Frame const syn = tcp_frame(TcpSegment{.src_mac = kGuestMac, .dst_mac = kGatewayMac,
                                           .src_ip = kGuestIp, .dst_ip = kGatewayIp,
                                           .src_port = 1, .dst_port = 1, .flags = kTcpSyn});
    Frame const discover = dhcp_discover(kGuestMac, 1);
    for (Frame const& whole : {syn, discover})
        for (size_t size = 14; size < whole.size(); ++size)
            wire.send(Frame(whole.begin(), whole.begin() + static_cast<long>(size)));

    // Still alive and serving: ARP for the gateway is answered.
    wire.send(arp_request(kGuestMac, kGuestIp, kGatewayIp));
    auto reply = wire.wait_for([](Frame const& f) {
        auto arp = parse_arp(f);
        return arp && arp->op == 2 && arp->sender_ip == kGatewayIp;
    });
    CHECK(reply);
    CHECK(::kill(wire.net().pid, 0) == 0);
}

TEST_CASE("user network: closing the socket ends the helper with status 0") {
    auto started = start_user_network(NetConfig{});
    REQUIRE(started);
    pid_t const pid = started->pid;
    started->socket.reset();
    REQUIRE(process_ends(pid, 10s));
    int status = -1;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("user network: the helper dies with its parent even while the socket stays open") {
    // A child starts the helper, passes us the socket (SCM_RIGHTS) and the pid, and exits: the
    // socket stays open here, so only PR_SET_PDEATHSIG can end the helper.
    int channel[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, channel) == 0);
    pid_t const child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        auto started = start_user_network(NetConfig{});
        if (!started) _exit(1);
        pid_t helper = started->pid;
        int fd = started->socket.get();
        char control[CMSG_SPACE(sizeof(int))] = {};
        iovec iov{.iov_base = &helper, .iov_len = sizeof helper};
        msghdr message{.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                       .msg_controllen = sizeof control};
        cmsghdr* cmsg = CMSG_FIRSTHDR(&message);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
        _exit(::sendmsg(channel[1], &message, 0) < 0 ? 2 : 0);
    }
    ::close(channel[1]);
    pid_t helper = -1;
    char control[CMSG_SPACE(sizeof(int))] = {};
    iovec iov{.iov_base = &helper, .iov_len = sizeof helper};
    msghdr message{.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                   .msg_controllen = sizeof control};
    REQUIRE(readable(channel[0], 30s));
    REQUIRE(::recvmsg(channel[0], &message, MSG_CMSG_CLOEXEC) == sizeof helper);
    ::close(channel[0]);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&message);
    REQUIRE(cmsg != nullptr);
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
    UniqueFd socket(fd);
    int status = -1;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(status == 0);
    CHECK(process_ends(helper, 10s));
}
