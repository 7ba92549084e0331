// SPDX-License-Identifier: Apache-2.0
// The launcher/helper contract: argument and status-line formats.
#include "netuser/protocol.h"

#include <charconv>

#include <fmt/format.h>

namespace vmm::netuser {

namespace {

char const* protocol_name(HostForward::Protocol protocol) {
    return protocol == HostForward::Protocol::Udp ? "udp" : "tcp";
}

std::optional<uint16_t> parse_port(std::string_view text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
        value > 65535)
        return std::nullopt;
    return static_cast<uint16_t>(value);
}

}  // namespace

std::string format_forward(HostForward const& forward) {
    return fmt::format("{}:{}:{}-:{}", protocol_name(forward.protocol), forward.host_address,
                       forward.host_port, forward.guest_port);
}

std::optional<HostForward> parse_forward(std::string_view text) {
    HostForward forward;
    if (text.starts_with("tcp:")) {
        forward.protocol = HostForward::Protocol::Tcp;
    } else if (text.starts_with("udp:")) {
        forward.protocol = HostForward::Protocol::Udp;
    } else {
        return std::nullopt;
    }
    text.remove_prefix(4);
    auto dash = text.find("-:");
    if (dash == std::string_view::npos) return std::nullopt;
    std::string_view host = text.substr(0, dash);
    auto colon = host.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    auto host_port = parse_port(host.substr(colon + 1));
    auto guest_port = parse_port(text.substr(dash + 2));
    if (!host_port || !guest_port) return std::nullopt;
    forward.host_address = std::string(host.substr(0, colon));
    forward.host_port = *host_port;
    forward.guest_port = *guest_port;
    return forward;
}

std::string describe_forward(HostForward const& forward) {
    if (forward.host_address == HostForward{}.host_address)
        return fmt::format("hostfwd={}::{}-:{}", protocol_name(forward.protocol),
                           forward.host_port, forward.guest_port);
    return fmt::format("hostfwd={}", format_forward(forward));
}

std::string format_status(StatusReport const& report) {
    switch (report.kind) {
    case StatusReport::Kind::Ready: return "ready\n";
    case StatusReport::Kind::Usage: return fmt::format("usage {}\n", report.message);
    case StatusReport::Kind::Host: return fmt::format("host {}\n", report.message);
    }
    return "host (unknown status)\n";
}

std::optional<StatusReport> parse_status(std::string_view line) {
    if (line.ends_with('\n')) line.remove_suffix(1);
    if (line == "ready") return StatusReport{StatusReport::Kind::Ready, {}};
    if (line.starts_with("usage ") && line.size() > 6)
        return StatusReport{StatusReport::Kind::Usage, std::string(line.substr(6))};
    if (line.starts_with("host ") && line.size() > 5)
        return StatusReport{StatusReport::Kind::Host, std::string(line.substr(5))};
    return std::nullopt;
}

}  // namespace vmm::netuser
