// SPDX-License-Identifier: Apache-2.0
// The command line (CLI11) -> MachineConfig. No I/O beyond printing help and errors.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <spdlog/common.h>

#include "vmm/machine_config.h"

namespace vmm {

struct RunCommand {
    MachineConfig config;
    spdlog::level::level_enum log_level = spdlog::level::info;
};

/// Either a command to carry out, or the exit status to end with now (help printed: 0; bad
/// usage, message printed to stderr: 64).
using ParsedCommandLine = std::variant<RunCommand, int>;

ParsedCommandLine parse_command_line(int argc, char const* const* argv);

/// "stdio", "virtio", "none" or "file:PATH".
Result<ConsoleConfig> parse_console(std::string const& text);

/// "PATH[,ro][,id=NAME][,engine=sync]" (the value of one --disk).
Result<DiskConfig> parse_disk(std::string const& text);

/// "XX:XX:XX:XX:XX:XX": a unicast MAC (the first byte even), not all zeros.
Result<std::array<uint8_t, 6>> parse_mac(std::string_view text);

/// "tap=NAME[,mac=MAC][,mtu=N]" or "user[,hostfwd=...][,mac=MAC][,mtu=N]" (one --net); hostfwd
/// is QEMU's "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", repeatable.
Result<NetConfig> parse_net(std::string const& text);

/// "auto", "pvm" or "native".
Result<HostProfile> parse_host_profile(std::string const& text);

}  // namespace vmm
