// SPDX-License-Identifier: Apache-2.0
// Building a machine.
#include "vmm/builder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "boot/cmdline.h"
#include "boot/initrd.h"
#include "boot/x86_64/cpu_setup.h"
#include "boot/x86_64/e820.h"
#include "boot/x86_64/layout.h"
#include "devices/legacy/boot_timer.h"
#include "devices/legacy/exit_device.h"
#include "devices/legacy/i8042.h"
#include "vmm/base/file.h"
#include "vmm/base/log.h"
#include "vmm/kvm/vcpu.h"

namespace vmm {

namespace {
namespace x86 = boot::x86_64;
constexpr uint64_t kMaxKernelSize = 512_MiB;
constexpr uint64_t kMaxInitrdSize = 2_GiB;

Result<void> register_memory(kvm::Vm& vm, GuestMemory const& memory) {
    uint32_t slot = 0;
    for (auto const& region : memory.regions())
        TRY(vm.set_user_memory_region(slot++, region.start.value, region.size(),
                                      region.mapping.data()));
    return {};
}

Result<void> attach_console_output(Machine& machine) {
    auto const& console = machine.config().console;
    switch (console.kind) {
        case ConsoleKind::Stdio: machine.set_console_output(UniqueFd(), STDOUT_FILENO); break;
        case ConsoleKind::None: machine.set_console_output(UniqueFd(), -1); break;
        case ConsoleKind::File: {
            int fd = ::open(console.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            if (fd < 0)
                return std::unexpected(Error::from_errno(
                    fmt::format("cannot open console file '{}'", console.path), errno,
                    ErrorKind::Input));
            machine.set_console_output(UniqueFd(fd), fd);
            break;
        }
    }
    return {};
}

Result<void> attach_legacy_devices(Machine& machine, std::chrono::steady_clock::time_point start) {
    // COM1 with its interrupt on IRQ 4 through an irqfd.
    auto irq_event = TRY(EventFd::create());
    TRY(machine.vm().register_irqfd(irq_event, devices::Serial8250::kCom1Irq));
    auto irq = std::make_unique<EventFdIrq>(std::move(irq_event));
    int const out = machine.console_fd();
    auto serial = std::make_shared<devices::Serial8250>(*irq, [out](std::span<uint8_t const> bytes) {
        static LogOnce write_failed;
        size_t done = 0;
        while (out >= 0 && done < bytes.size()) {
            ssize_t n = ::write(out, bytes.data() + done, bytes.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                if (write_failed.first()) spdlog::warn("console output failed; output dropped");
                return;
            }
            done += static_cast<size_t>(n);
        }
    });
    TRY(machine.pio_bus().insert(serial, devices::Serial8250::kCom1Port,
                                 devices::Serial8250::kRegisterCount));
    machine.set_serial(serial, std::move(irq));

    ExitRequest& exit = machine.exit_request();
    auto i8042 = std::make_shared<devices::I8042>(
        [&exit] { exit.request(exit_status::kGuestReset, "the guest requested a reset"); });
    TRY(machine.pio_bus().insert(i8042, devices::I8042::kBasePort, devices::I8042::kLength));
    machine.add_device(i8042);

    auto exit_device = std::make_shared<devices::ExitDevice>([&exit](uint8_t status) {
        exit.request(status, fmt::format("the guest wrote {} to the exit device", status));
    });
    TRY(machine.pio_bus().insert(exit_device, devices::ExitDevice::kPort,
                                 devices::ExitDevice::kLength));
    machine.add_device(exit_device);

    if (machine.config().boot_timer) {
        auto timer = std::make_shared<devices::BootTimer>(start, [](std::chrono::microseconds t) {
            spdlog::info("guest boot time: {}.{:03} ms ({} us since wisp started)",
                         t.count() / 1000, t.count() % 1000, t.count());
        });
        TRY(machine.mmio_bus().insert(timer, devices::BootTimer::kAddress,
                                      devices::BootTimer::kLength));
        machine.add_device(timer);
    }
    return {};
}

Result<void> create_vcpus(Machine& machine, uint64_t entry, uint64_t start_info) {
    auto const supported = TRY(machine.kvm().supported_cpuid());
    uint32_t const count = machine.config().vcpus;
    for (uint32_t index = 0; index < count; ++index) {
        auto vcpu = TRY(machine.vm().create_vcpu(index));
        TRY(vcpu.set_cpuid(x86::normalize_cpuid(supported, index, count)));
        TRY(vcpu.set_msrs(x86::boot_msrs()));
        TRY(vcpu.set_fpu(x86::boot_fpu()));
        auto lapic = TRY(vcpu.lapic());
        x86::set_lapic_lint(lapic);
        TRY(vcpu.set_lapic(lapic));
        if (index == 0) {
            // The boot vCPU enters the kernel; the others wait for INIT/SIPI from it.
            auto sregs = TRY(vcpu.sregs());
            x86::set_pvh_sregs(sregs);
            TRY(vcpu.set_sregs(sregs));
            TRY(vcpu.set_regs(x86::pvh_regs(entry, start_info)));
        }
        machine.add_vcpu(std::move(vcpu));
    }
    return {};
}

}  // namespace

Result<void> validate_config(MachineConfig const& config) {
    if (config.vcpus == 0 || config.vcpus > MachineConfig::kMaxVcpus)
        return fail(ErrorKind::Usage, fmt::format("--cpus {} is out of range: use 1 to {}",
                                                  config.vcpus, MachineConfig::kMaxVcpus));
    TRY(x86::memory_layout(config.memory));
    TRY(boot::Cmdline::parse(config.cmdline));
    if (config.kernel.empty()) return fail(ErrorKind::Usage, "--kernel is required");
    if (config.console.kind == ConsoleKind::File && config.console.path.empty())
        return fail(ErrorKind::Usage, "--console file: needs a path, e.g. --console file:out.log");
    return {};
}

Result<LoadedGuest> load_guest(MachineConfig const& config) {
    auto cmdline = TRY(boot::Cmdline::parse(config.cmdline));
    auto const kernel_image = TRY(read_whole_file(config.kernel, "kernel", kMaxKernelSize));
    TRY(boot::parse_elf_kernel(kernel_image));  // image errors before any allocation
    std::vector<uint8_t> initrd_image;
    if (config.initrd) {
        initrd_image = TRY(read_whole_file(*config.initrd, "initrd", kMaxInitrdSize));
        if (initrd_image.empty())
            return fail(ErrorKind::Image, fmt::format("initrd '{}' is empty", *config.initrd));
    }
    auto const layout = TRY(x86::memory_layout(config.memory));
    auto memory = TRY(GuestMemory::create(layout));
    auto const kernel = TRY(boot::load_elf_kernel(memory, kernel_image));
    std::optional<x86::LoadedModule> initrd;
    if (config.initrd)
        initrd = TRY(boot::load_initrd(memory, initrd_image, kernel.end, x86::kMmioHoleStart));
    TRY(x86::write_boot_gdt(memory));
    auto const e820 = x86::build_e820(memory.regions());
    uint64_t const start_info = TRY(x86::write_pvh_start_info(memory, cmdline.str(), e820, initrd));
    return LoadedGuest{std::move(memory), kernel.pvh_entry, start_info};
}

Result<std::unique_ptr<Machine>> build_machine(MachineConfig const& config,
                                               std::chrono::steady_clock::time_point start) {
    TRY(validate_config(config));
    LoadedGuest guest = TRY(load_guest(config));

    auto kvm = TRY(kvm::Kvm::open(config.kvm_device.c_str()));
    if (config.vcpus > static_cast<uint32_t>(kvm.max_vcpus()))
        return fail(ErrorKind::Usage, fmt::format("--cpus {}: this host's KVM allows at most {}",
                                                  config.vcpus, kvm.max_vcpus()));
    auto vm = TRY(kvm.create_vm());
    TRY(vm.set_identity_map_address(x86::kIdentityMapAddress));
    TRY(vm.set_tss_address(x86::kTssAddress));
    TRY(vm.create_irqchip());
    TRY(vm.create_pit2());
    TRY(register_memory(vm, guest.memory));
    auto exit = TRY(ExitRequest::create());
    auto loop = TRY(EventLoop::create());
    uint64_t const entry = guest.entry;
    uint64_t const start_info = guest.start_info;
    auto machine = std::make_unique<Machine>(config, std::move(kvm), std::move(vm),
                                             std::move(guest.memory), std::move(exit),
                                             std::move(loop));
    TRY(attach_console_output(*machine));
    TRY(attach_legacy_devices(*machine, start));
    TRY(create_vcpus(*machine, entry, start_info));
    return machine;
}

}  // namespace vmm
