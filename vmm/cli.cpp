// SPDX-License-Identifier: Apache-2.0
// Command-line parsing.
#include "vmm/cli.h"

#include <cstdio>
#include <ranges>
#include <span>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "vmm/base/log.h"
#include "vmm/base/size.h"
#include "vmm/exit_status.h"

namespace vmm {

Result<ConsoleConfig> parse_console(std::string const& text) {
    if (text == "stdio") return ConsoleConfig{ConsoleKind::Stdio, {}};
    if (text == "none") return ConsoleConfig{ConsoleKind::None, {}};
    if (text == "virtio") return ConsoleConfig{ConsoleKind::Virtio, {}};
    if (text.starts_with("file:") && text.size() > 5)
        return ConsoleConfig{ConsoleKind::File, text.substr(5)};
    return fail(ErrorKind::Usage,
                fmt::format("--console '{}' is not valid: use stdio, virtio, none or file:PATH",
                            text));
}

Result<DiskConfig> parse_disk(std::string const& text) {
    constexpr char const* kForm = "use --disk PATH[,ro][,id=NAME][,engine=sync]";
    std::vector<std::string_view> parts;
    for (auto part : std::views::split(std::string_view(text), ','))
        parts.emplace_back(part.begin(), part.end());
    DiskConfig disk;
    if (!parts.empty()) disk.path = std::string(parts.front());  // "" splits into no parts
    if (disk.path.empty())
        return fail(ErrorKind::Usage, fmt::format("--disk '{}' has no path: {}", text, kForm));
    for (std::string_view option : std::span(parts).subspan(1)) {
        if (option == "ro") {
            disk.read_only = true;
        } else if (option.starts_with("id=")) {
            disk.id = std::string(option.substr(3));
            if (disk.id.size() > DiskConfig::kIdBytes)
                return fail(ErrorKind::Usage,
                            fmt::format("--disk '{}': id '{}' is {} bytes; the limit is {}", text,
                                        disk.id, disk.id.size(), DiskConfig::kIdBytes));
        } else if (option == "engine=sync") {
            // the only engine so far
        } else if (option == "engine=io_uring") {
            return fail(ErrorKind::Usage,
                        fmt::format("--disk '{}': engine=io_uring is not implemented yet; use "
                                    "engine=sync (the default)",
                                    text));
        } else {
            return fail(ErrorKind::Usage,
                        fmt::format("--disk '{}': unknown option '{}': {}", text, option, kForm));
        }
    }
    return disk;
}

Result<HostProfile> parse_host_profile(std::string const& text) {
    if (text == "auto") return HostProfile::Auto;
    if (text == "pvm") return HostProfile::Pvm;
    if (text == "native") return HostProfile::Native;
    return fail(ErrorKind::Usage,
                fmt::format("--host-profile '{}' is not valid: use auto, pvm or native", text));
}

ParsedCommandLine parse_command_line(int argc, char const* const* argv) {
    CLI::App app{"wisp: a KVM microVM monitor", "wisp"};
    app.set_version_flag("--version", std::string("wisp ") + WISP_VERSION);
    app.require_subcommand(1);
    app.footer(std::string(exit_status_table()));

    RunCommand command;
    std::string memory = "128M";
    std::string console = "stdio";
    std::string log_level = "info";
    std::string cmdline = MachineConfig::kDefaultCmdline;
    std::string initrd;
    std::string host_profile = "auto";
    std::vector<std::string> disks;

    CLI::App* run = app.add_subcommand("run", "Boot a kernel in a new microVM");
    run->add_option("--kernel", command.config.kernel,
                    "ELF kernel with a PVH entry note (a vmlinux built with CONFIG_PVH=y)")
        ->required();
    run->add_option("--initrd", initrd, "Initial ramdisk, given to the kernel as module 0");
    CLI::Option* cmdline_option =
        run->add_option("--cmdline", cmdline,
                        fmt::format("Kernel command line (with --console virtio: \"{}\")",
                                    MachineConfig::kDefaultVirtioCmdline))
            ->capture_default_str();
    run->add_option("--cpus", command.config.vcpus,
                    fmt::format("Number of vCPUs, 1 to {}", MachineConfig::kMaxVcpus))
        ->capture_default_str();
    run->add_option("--memory", memory, "Guest RAM: 128M, 2G, ...; a bare number is MiB")
        ->capture_default_str();
    run->add_option("--console", console,
                    "Serial console (COM1): stdio, file:PATH or none; or virtio: a "
                    "virtio-console (hvc0) on stdio, the serial port's output dropped. On stdio, "
                    "Ctrl-A x ends the VM and Ctrl-A Ctrl-A sends Ctrl-A")
        ->capture_default_str();
    run->add_flag("--boot-timer", command.config.boot_timer,
                  "Log the time from wisp's start to the guest writing 123 to MMIO 0xd0000000");
    run->add_option("--disk", disks,
                    "A virtio-blk disk backed by PATH (a file or block device); repeat for more "
                    "(vda, vdb, ... in order). ,ro: read-only; ,id=NAME: the serial the guest "
                    "reads (up to 20 bytes); ,engine=sync: the I/O engine (the only one so far)")
        ->type_name("PATH[,ro][,id=NAME]")
        ->allow_extra_args(false);
    run->add_flag("--rng", command.config.rng,
                  "Give the guest a virtio-rng device (entropy from the host's getrandom)");
    run->add_option("--kvm-device", command.config.kvm_device, "The KVM device node")
        ->capture_default_str();
    run->add_option("--host-profile", host_profile,
                    "auto, pvm or native. pvm adapts the guest to a PVM host's KVM (kernel "
                    "options, an emulation fallback); auto picks it when the host is PVM")
        ->capture_default_str();
    run->add_option("--log-level", log_level,
                    "trace, debug, info, warn, error or off (Firecracker's names work too)")
        ->capture_default_str();
    run->footer(std::string(exit_status_table()));

    auto usage_error = [&](std::string const& message) {
        std::fprintf(stderr, "wisp: %s\nRun 'wisp run --help' for the options.\n",
                     message.c_str());
        return exit_status::kUsage;
    };
    if (argc > 1 && argv[1][0] != '-' && std::string_view(argv[1]) != "run")
        return usage_error(fmt::format(
            "unknown command '{}': the commands are 'wisp run' and 'wisp serve'", argv[1]));
    try {
        app.parse(argc, argv);
    } catch (CLI::CallForHelp const& e) {
        return app.exit(e);
    } catch (CLI::CallForAllHelp const& e) {
        return app.exit(e);
    } catch (CLI::CallForVersion const& e) {
        return app.exit(e);
    } catch (CLI::ParseError const& e) {
        return usage_error(e.what());
    }

    auto size = parse_size(memory);
    if (!size) return usage_error(fmt::format("--memory: {}", size.error().message()));
    command.config.memory = *size;
    auto console_config = parse_console(console);
    if (!console_config) return usage_error(console_config.error().message());
    command.config.console = *console_config;
    auto level = parse_log_level(log_level);
    if (!level)
        return usage_error(fmt::format("--log-level '{}' is not one of trace, debug, info, "
                                       "warn, error, off",
                                       log_level));
    command.log_level = *level;
    auto profile = parse_host_profile(host_profile);
    if (!profile) return usage_error(profile.error().message());
    command.config.host_profile = *profile;
    for (std::string const& text : disks) {
        auto disk = parse_disk(text);
        if (!disk) return usage_error(disk.error().message());
        command.config.disks.push_back(std::move(*disk));
    }
    // Without --cmdline the default follows the console: console=hvc0 for virtio.
    command.config.cmdline = cmdline_option->count() > 0
                                 ? cmdline
                                 : MachineConfig::default_cmdline(command.config.console.kind);
    if (!initrd.empty()) command.config.initrd = initrd;
    return command;
}

}  // namespace vmm
