// SPDX-License-Identifier: Apache-2.0
// Test frames: builders and parsers (RFC 826 ARP, RFC 791 IPv4, RFC 793 TCP, RFC 2131 DHCP).
#include "tests/support/net_frames.h"

#include <algorithm>

namespace vmm::test {

namespace {

void put16(Frame& f, size_t at, uint16_t v) {
    f[at] = static_cast<uint8_t>(v >> 8);
    f[at + 1] = static_cast<uint8_t>(v);
}
void put32(Frame& f, size_t at, uint32_t v) {
    put16(f, at, static_cast<uint16_t>(v >> 16));
    put16(f, at + 2, static_cast<uint16_t>(v));
}
uint16_t get16(Frame const& f, size_t at) { return static_cast<uint16_t>(f[at] << 8 | f[at + 1]); }
uint32_t get32(Frame const& f, size_t at) { return uint32_t{get16(f, at)} << 16 | get16(f, at + 2); }
Mac get_mac(Frame const& f, size_t at) {
    Mac mac;
    std::copy_n(f.begin() + static_cast<long>(at), 6, mac.begin());
    return mac;
}

// A frame of `length` bytes (at least the 60 of a minimal Ethernet frame) with its header.
Frame ethernet(Mac const& dst, Mac const& src, uint16_t type, size_t length) {
    Frame f(std::max<size_t>(length, 60), 0);
    std::copy(dst.begin(), dst.end(), f.begin());
    std::copy(src.begin(), src.end(), f.begin() + 6);
    put16(f, 12, type);
    return f;
}

constexpr size_t kEth = 14;
constexpr size_t kIp = 20;

// The IPv4 header at offset 14 for `payload_length` bytes of `protocol`.
void ipv4_header(Frame& f, uint8_t protocol, uint32_t src, uint32_t dst, size_t payload_length) {
    f[kEth] = 0x45;
    put16(f, kEth + 2, static_cast<uint16_t>(kIp + payload_length));
    put16(f, kEth + 4, 0x1234);  // id
    f[kEth + 8] = 64;            // ttl
    f[kEth + 9] = protocol;
    put32(f, kEth + 12, src);
    put32(f, kEth + 16, dst);
    put16(f, kEth + 10, internet_checksum(std::span(f).subspan(kEth, kIp)));
}

// The TCP/UDP pseudo-header's sum.
uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t protocol, size_t length) {
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + protocol +
           static_cast<uint32_t>(length);
}

// The IPv4 payload of a frame of `protocol`, checked against its header, else nullopt.
std::optional<std::pair<size_t, size_t>> ipv4_payload(Frame const& f, uint8_t protocol) {
    if (f.size() < kEth + kIp || get16(f, 12) != kEtherIpv4 || (f[kEth] >> 4) != 4) return {};
    size_t const ihl = size_t{f[kEth] & 0x0fu} * 4;
    size_t const total = get16(f, kEth + 2);
    if (ihl < kIp || total < ihl || kEth + total > f.size() || f[kEth + 9] != protocol) return {};
    return std::pair{kEth + ihl, total - ihl};
}

}  // namespace

uint16_t internet_checksum(std::span<uint8_t const> bytes, uint32_t sum) {
    for (size_t i = 0; i + 1 < bytes.size(); i += 2) sum += uint32_t{bytes[i]} << 8 | bytes[i + 1];
    if (bytes.size() % 2) sum += uint32_t{bytes.back()} << 8;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

Frame arp_request(Mac const& sender_mac, uint32_t sender_ip, uint32_t target_ip) {
    Frame f = ethernet(kBroadcastMac, sender_mac, kEtherArp, kEth + 28);
    put16(f, 14, 1);       // Ethernet
    put16(f, 16, 0x0800);  // IPv4
    f[18] = 6;
    f[19] = 4;
    put16(f, 20, 1);  // request
    std::copy(sender_mac.begin(), sender_mac.end(), f.begin() + 22);
    put32(f, 28, sender_ip);
    put32(f, 38, target_ip);
    return f;
}

Frame arp_reply(Mac const& sender_mac, uint32_t sender_ip, Mac const& target_mac,
                uint32_t target_ip) {
    Frame f = arp_request(sender_mac, sender_ip, target_ip);
    std::copy(target_mac.begin(), target_mac.end(), f.begin());
    put16(f, 20, 2);
    std::copy(target_mac.begin(), target_mac.end(), f.begin() + 32);
    return f;
}

Frame dhcp_discover(Mac const& client, uint32_t xid) {
    constexpr size_t kBootp = 548;  // 236 fixed bytes + 312 of options (RFC 2131 §2)
    constexpr size_t kUdp = 8;
    Frame f = ethernet(kBroadcastMac, client, kEtherIpv4, kEth + kIp + kUdp + kBootp);
    size_t const udp = kEth + kIp;
    put16(f, udp, 68);
    put16(f, udp + 2, 67);
    put16(f, udp + 4, kUdp + kBootp);  // checksum 0: none (allowed for UDP over IPv4)
    size_t const b = udp + kUdp;
    f[b] = 1;      // BOOTREQUEST
    f[b + 1] = 1;  // Ethernet
    f[b + 2] = 6;
    put32(f, b + 4, xid);
    put16(f, b + 10, 0x8000);  // broadcast reply
    std::copy(client.begin(), client.end(), f.begin() + static_cast<long>(b + 28));
    put32(f, b + 236, 0x63825363);  // magic cookie
    size_t o = b + 240;
    for (uint8_t byte : {53, 1, 1,        // DHCPDISCOVER
                         55, 3, 1, 3, 6,  // ask for the mask, router, DNS
                         255})
        f[o++] = byte;
    ipv4_header(f, 17, 0, 0xffffffff, kUdp + kBootp);
    return f;
}

Frame tcp_frame(TcpSegment const& s) {
    constexpr size_t kTcp = 20;
    size_t const length = kTcp + s.payload.size();
    Frame f = ethernet(s.dst_mac, s.src_mac, kEtherIpv4, kEth + kIp + length);
    size_t const t = kEth + kIp;
    put16(f, t, s.src_port);
    put16(f, t + 2, s.dst_port);
    put32(f, t + 4, s.seq);
    put32(f, t + 8, s.ack);
    f[t + 12] = (kTcp / 4) << 4;
    f[t + 13] = s.flags;
    put16(f, t + 14, s.window);
    std::copy(s.payload.begin(), s.payload.end(), f.begin() + static_cast<long>(t + kTcp));
    put16(f, t + 16,
          internet_checksum(std::span(f).subspan(t, length),
                            pseudo_sum(s.src_ip, s.dst_ip, 6, length)));
    ipv4_header(f, 6, s.src_ip, s.dst_ip, length);
    return f;
}

Frame udp_frame(UdpDatagram const& d) {
    constexpr size_t kUdp = 8;
    size_t const length = kUdp + d.payload.size();
    Frame f = ethernet(d.dst_mac, d.src_mac, kEtherIpv4, kEth + kIp + length);
    size_t const u = kEth + kIp;
    put16(f, u, d.src_port);
    put16(f, u + 2, d.dst_port);
    put16(f, u + 4, static_cast<uint16_t>(length));
    std::copy(d.payload.begin(), d.payload.end(), f.begin() + static_cast<long>(u + kUdp));
    uint16_t const sum = internet_checksum(std::span(f).subspan(u, length),
                                           pseudo_sum(d.src_ip, d.dst_ip, 17, length));
    put16(f, u + 6, sum == 0 ? 0xffff : sum);  // 0 would mean "no checksum"
    ipv4_header(f, 17, d.src_ip, d.dst_ip, length);
    return f;
}

std::optional<Arp> parse_arp(Frame const& f) {
    if (f.size() < kEth + 28 || get16(f, 12) != kEtherArp) return {};
    return Arp{.op = get16(f, 20), .sender_mac = get_mac(f, 22), .target_mac = get_mac(f, 32),
               .sender_ip = get32(f, 28), .target_ip = get32(f, 38)};
}

std::optional<DhcpReply> parse_dhcp_reply(Frame const& f) {
    auto payload = ipv4_payload(f, 17);
    if (!payload) return {};
    auto [udp, length] = *payload;
    if (length < 8 + 240 || get16(f, udp) != 67 || get16(f, udp + 2) != 68) return {};
    size_t const b = udp + 8;
    size_t const end = udp + length;
    if (f[b] != 2 || get32(f, b + 236) != 0x63825363) return {};
    DhcpReply reply{.dst_mac = get_mac(f, 0), .xid = get32(f, b + 4), .yiaddr = get32(f, b + 16)};
    for (size_t o = b + 240; o < end && f[o] != 255;) {
        if (f[o] == 0) {
            ++o;
            continue;
        }
        if (o + 2 > end || o + 2 + f[o + 1] > end) break;
        uint8_t const code = f[o];
        uint8_t const len = f[o + 1];
        if (code == 53 && len >= 1) reply.type = f[o + 2];
        if (code == 54 && len >= 4) reply.server_id = get32(f, o + 2);
        if (code == 3 && len >= 4) reply.router = get32(f, o + 2);
        if (code == 6 && len >= 4) reply.dns = get32(f, o + 2);
        o += 2 + size_t{len};
    }
    return reply;
}

std::optional<TcpSegment> parse_tcp(Frame const& f) {
    auto payload = ipv4_payload(f, 6);
    if (!payload) return {};
    auto [t, length] = *payload;
    if (length < 20) return {};
    size_t const header = static_cast<size_t>(f[t + 12] >> 4) * 4;
    if (header < 20 || header > length) return {};
    TcpSegment s{.src_mac = get_mac(f, 6), .dst_mac = get_mac(f, 0),
                 .src_ip = get32(f, kEth + 12), .dst_ip = get32(f, kEth + 16),
                 .src_port = get16(f, t), .dst_port = get16(f, t + 2),
                 .seq = get32(f, t + 4), .ack = get32(f, t + 8), .flags = f[t + 13],
                 .window = get16(f, t + 14)};
    s.payload.assign(f.begin() + static_cast<long>(t + header),
                     f.begin() + static_cast<long>(t + length));
    for (size_t o = t + 20; o < t + header;) {  // options: kind, length, value
        uint8_t const kind = f[o];
        if (kind == 0) break;
        if (kind == 1) {
            ++o;
            continue;
        }
        if (o + 1 >= t + header || f[o + 1] < 2 || o + f[o + 1] > t + header) break;
        if (kind == 2 && f[o + 1] == 4) s.mss = get16(f, o + 2);
        o += f[o + 1];
    }
    return s;
}

std::optional<UdpDatagram> parse_udp(Frame const& f) {
    auto payload = ipv4_payload(f, 17);
    if (!payload) return {};
    auto [u, length] = *payload;
    if (length < 8 || get16(f, u + 4) < 8 || get16(f, u + 4) > length) return {};
    UdpDatagram d{.src_mac = get_mac(f, 6), .dst_mac = get_mac(f, 0),
                  .src_ip = get32(f, kEth + 12), .dst_ip = get32(f, kEth + 16),
                  .src_port = get16(f, u), .dst_port = get16(f, u + 2)};
    d.payload.assign(f.begin() + static_cast<long>(u + 8),
                     f.begin() + static_cast<long>(u + get16(f, u + 4)));
    return d;
}

}  // namespace vmm::test
