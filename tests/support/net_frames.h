// SPDX-License-Identifier: Apache-2.0
// Ethernet frames for tests that play the guest on a network: ARP, DHCP (BOOTP) and TCP built
// byte by byte (checksums included), and the parsers that read the answers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vmm::test {

using Mac = std::array<uint8_t, 6>;
using Frame = std::vector<uint8_t>;

inline constexpr Mac kBroadcastMac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherArp = 0x0806;

/// An IPv4 address in host order: ipv4(10, 0, 2, 15).
constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}

/// RFC 1071: the ones' complement of the ones' complement sum, `sum` carrying a pseudo-header.
uint16_t internet_checksum(std::span<uint8_t const> bytes, uint32_t sum = 0);

Frame arp_request(Mac const& sender_mac, uint32_t sender_ip, uint32_t target_ip);
Frame arp_reply(Mac const& sender_mac, uint32_t sender_ip, Mac const& target_mac,
                uint32_t target_ip);

/// A DHCPDISCOVER from 0.0.0.0:68 to 255.255.255.255:67 (broadcast), BOOTP's full 548 bytes.
Frame dhcp_discover(Mac const& client, uint32_t xid);

struct TcpSegment {
    Mac src_mac{}, dst_mac{};
    uint32_t src_ip = 0, dst_ip = 0;
    uint16_t src_port = 0, dst_port = 0;
    uint32_t seq = 0, ack = 0;
    uint8_t flags = 0;  // kTcp*
    uint16_t window = 0;
    std::vector<uint8_t> payload;
    uint16_t mss = 0;  // the MSS option when parsed from a segment that carries one, else 0
};
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10;
Frame tcp_frame(TcpSegment const& segment);

struct UdpDatagram {
    Mac src_mac{}, dst_mac{};
    uint32_t src_ip = 0, dst_ip = 0;
    uint16_t src_port = 0, dst_port = 0;
    std::vector<uint8_t> payload;
};
/// A UDP datagram in an IPv4 frame, with its checksum.
Frame udp_frame(UdpDatagram const& datagram);

struct Arp {
    uint16_t op = 0;  // 1 request, 2 reply
    Mac sender_mac{}, target_mac{};
    uint32_t sender_ip = 0, target_ip = 0;
};
std::optional<Arp> parse_arp(Frame const& frame);

struct DhcpReply {
    Mac dst_mac{};
    uint32_t xid = 0;
    uint32_t yiaddr = 0;
    uint8_t type = 0;        // option 53: 2 offer, 5 ack
    uint32_t server_id = 0;  // option 54
    uint32_t router = 0;     // option 3, the first
    uint32_t dns = 0;        // option 6, the first
};
/// A BOOTP reply from port 67 to port 68, else nullopt.
std::optional<DhcpReply> parse_dhcp_reply(Frame const& frame);

/// A TCP segment in an IPv4 frame (of the header options, only the MSS is read), else nullopt.
std::optional<TcpSegment> parse_tcp(Frame const& frame);

/// A UDP datagram in an IPv4 frame, else nullopt.
std::optional<UdpDatagram> parse_udp(Frame const& frame);

}  // namespace vmm::test
