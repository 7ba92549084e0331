// SPDX-License-Identifier: Apache-2.0
// MachineConfig: the one configuration model, filled by the CLI today and by the config file
// and the API later. A plain aggregate: tests build it with designated initializers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "vmm/base/size.h"

namespace vmm {

enum class ConsoleKind { Stdio, File, None };

struct ConsoleConfig {
    ConsoleKind kind = ConsoleKind::Stdio;
    std::string path;  // for File
};

struct MachineConfig {
    static constexpr uint32_t kMaxVcpus = 64;
    static constexpr char const* kDefaultCmdline = "console=ttyS0 reboot=k panic=1";

    std::string kernel;
    std::optional<std::string> initrd;
    std::string cmdline = kDefaultCmdline;
    uint32_t vcpus = 1;
    uint64_t memory = 128_MiB;
    ConsoleConfig console;
    bool boot_timer = false;
    std::string kvm_device = "/dev/kvm";
};

}  // namespace vmm
