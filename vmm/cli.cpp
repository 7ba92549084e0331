// SPDX-License-Identifier: Apache-2.0
// Command-line parsing.
#include "vmm/cli.h"

#include <cstdio>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "vmm/base/log.h"
#include "vmm/base/size.h"
#include "vmm/exit_status.h"

namespace vmm {

Result<ConsoleConfig> parse_console(std::string const& text) {
    if (text == "stdio") return ConsoleConfig{ConsoleKind::Stdio, {}};
    if (text == "none") return ConsoleConfig{ConsoleKind::None, {}};
    if (text.starts_with("file:") && text.size() > 5)
        return ConsoleConfig{ConsoleKind::File, text.substr(5)};
    return fail(ErrorKind::Usage,
                fmt::format("--console '{}' is not valid: use stdio, none or file:PATH", text));
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

    CLI::App* run = app.add_subcommand("run", "Boot a kernel in a new microVM");
    run->add_option("--kernel", command.config.kernel,
                    "ELF kernel with a PVH entry note (a vmlinux built with CONFIG_PVH=y)")
        ->required();
    run->add_option("--initrd", initrd, "Initial ramdisk, given to the kernel as module 0");
    run->add_option("--cmdline", cmdline, "Kernel command line")->capture_default_str();
    run->add_option("--cpus", command.config.vcpus,
                    fmt::format("Number of vCPUs, 1 to {}", MachineConfig::kMaxVcpus))
        ->capture_default_str();
    run->add_option("--memory", memory, "Guest RAM: 128M, 2G, ...; a bare number is MiB")
        ->capture_default_str();
    run->add_option("--console", console,
                    "Serial console (COM1): stdio, file:PATH or none. On stdio, Ctrl-A x ends "
                    "the VM and Ctrl-A Ctrl-A sends Ctrl-A")
        ->capture_default_str();
    run->add_flag("--boot-timer", command.config.boot_timer,
                  "Log the time from wisp's start to the guest writing 123 to MMIO 0xd0000000");
    run->add_option("--kvm-device", command.config.kvm_device, "The KVM device node")
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
        return usage_error(fmt::format("unknown command '{}': the command is 'wisp run'", argv[1]));
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
    command.config.cmdline = cmdline;
    if (!initrd.empty()) command.config.initrd = initrd;
    return command;
}

}  // namespace vmm
