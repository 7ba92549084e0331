// SPDX-License-Identifier: Apache-2.0
// Building a machine.
#include "vmm/builder.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "boot/cmdline.h"
#include "boot/initrd.h"
#include "boot/x86_64/boot_params.h"
#include "boot/x86_64/bzimage.h"
#include "boot/x86_64/cpu_setup.h"
#include "boot/x86_64/e820.h"
#include "boot/x86_64/layout.h"
#include "boot/x86_64/mptable.h"
#include "devices/legacy/boot_timer.h"
#include "devices/legacy/exit_device.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc_cmos.h"
#include "vmm/base/file.h"
#include "vmm/base/log.h"
#include "vmm/host_profile.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/virtio_setup.h"

namespace vmm {

namespace {
namespace x86 = boot::x86_64;
constexpr uint64_t kMaxKernelSize = 512_MiB;
constexpr uint64_t kMaxInitrdSize = 2_GiB;

enum class KernelFormat { Elf, BzImage };

// What a kernel image asks of the loader, known before guest memory exists.
struct KernelRequirements {
    KernelFormat format;
    uint64_t cmdline_size;  // the longest command line, without its NUL
    uint64_t initrd_limit;  // first byte the initrd must not reach
};

// The image is checked in full here, so a bad one is refused before any allocation.
Result<KernelRequirements> inspect_kernel(std::span<uint8_t const> image) {
    if (image.size() >= SELFMAG && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0) {
        TRY(boot::parse_elf_kernel(image));
        auto const header = x86::vmlinux_setup_header();
        return KernelRequirements{KernelFormat::Elf, header.cmdline_size,
                                  uint64_t{header.initrd_addr_max} + 1};
    }
    if (x86::has_setup_header(image)) {
        auto const bz = TRY(x86::parse_bzimage(image));
        return KernelRequirements{KernelFormat::BzImage, bz.cmdline_size, bz.initrd_limit};
    }
    return fail(ErrorKind::Image,
                "not a kernel wisp can boot: neither an ELF kernel (no ELF magic) nor a bzImage "
                "(no \"HdrS\" at offset 0x202); pass a vmlinux or a bzImage");
}

struct LoadedKernel {
    x86::EntryMode mode;
    uint64_t entry;
    uint64_t end;             // first byte past the kernel's memory, for the initrd
    x86::SetupHeader header;  // for boot_params (Linux entries only)
};

Result<LoadedKernel> load_kernel(GuestMemory const& memory, KernelFormat format,
                                 std::span<uint8_t const> image) {
    if (format == KernelFormat::BzImage) {
        auto const bz = TRY(x86::load_bzimage(memory, image));
        return LoadedKernel{bz.mode, bz.entry, bz.end, bz.header};
    }
    auto const elf = TRY(boot::load_elf_kernel(memory, image));
    if (elf.pvh_entry) return LoadedKernel{x86::EntryMode::Pvh, *elf.pvh_entry, elf.end, {}};
    return LoadedKernel{x86::EntryMode::Linux64, elf.entry, elf.end, x86::vmlinux_setup_header()};
}

// What the kernel finds at entry: the PVH start info, or boot_params (and, for the 64-bit
// entry, the identity page tables). Returns the address for %ebx or %rsi.
Result<uint64_t> write_boot_info(GuestMemory const& memory, LoadedKernel const& kernel,
                                 std::string const& cmdline, std::span<x86::E820Entry const> e820,
                                 std::optional<x86::LoadedModule> initrd) {
    if (kernel.mode == x86::EntryMode::Pvh)
        return x86::write_pvh_start_info(memory, cmdline, e820, initrd);
    uint64_t const cmdline_address = TRY(x86::write_cmdline(memory, cmdline));
    auto const params =
        TRY(x86::make_boot_params(kernel.header, {.e820 = e820,
                                                  .cmdline_address = cmdline_address,
                                                  .cmdline_size = cmdline.size(),
                                                  .initrd = initrd}));
    if (kernel.mode == x86::EntryMode::Linux64) TRY(x86::write_identity_page_tables(memory));
    return x86::write_boot_params(memory, params);
}

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
        case ConsoleKind::Stdio:
        case ConsoleKind::Virtio: machine.set_console_output(UniqueFd(), STDOUT_FILENO); break;
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
    // With --console virtio the console is the virtio-console's; the serial port's output goes
    // nowhere.
    int const out =
        machine.config().console.kind == ConsoleKind::Virtio ? -1 : machine.console_fd();
    auto serial = std::make_shared<devices::Serial8250>(
        *irq, [out](std::span<uint8_t const> bytes) { write_console_output(out, bytes); });
    TRY(machine.pio_bus().insert(serial, devices::Serial8250::kCom1Port,
                                 devices::Serial8250::kRegisterCount));
    machine.set_serial(serial, std::move(irq));

    ExitRequest& exit = machine.exit_request();
    // The i8042 and its keyboard interrupt on IRQ 1.
    auto kbd_event = TRY(EventFd::create());
    TRY(machine.vm().register_irqfd(kbd_event, devices::I8042::kKeyboardIrq));
    auto kbd_irq = std::make_unique<EventFdIrq>(std::move(kbd_event));
    auto i8042 = std::make_shared<devices::I8042>(*kbd_irq, [&exit] {
        exit.request(exit_status::kGuestReset, "the guest requested a reset");
    });
    TRY(machine.pio_bus().insert(i8042, devices::I8042::kBasePort, devices::I8042::kLength));
    machine.add_device(i8042);
    machine.set_keyboard(i8042);  // SendCtrlAltDel
    machine.add_irq(std::move(kbd_irq));

    auto rtc = std::make_shared<devices::RtcCmos>([] { return std::chrono::system_clock::now(); });
    TRY(machine.pio_bus().insert(rtc, devices::RtcCmos::kPort, devices::RtcCmos::kLength));
    machine.add_device(rtc);

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

Result<void> create_vcpus(Machine& machine, x86::EntryMode mode, kvm_regs const& regs) {
    auto supported = TRY(machine.kvm().supported_cpuid());
    if (machine.kvm().check_extension(KVM_CAP_TSC_DEADLINE_TIMER) > 0)
        x86::enable_tsc_deadline_timer(supported);
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
            x86::set_entry_sregs(mode, sregs);
            TRY(vcpu.set_sregs(sregs));
            TRY(vcpu.set_regs(regs));
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
    auto cmdline = TRY(guest_cmdline(config));  // the user's, plus the host profile's
    TRY(append_virtio_cmdline(cmdline, config));
    auto const kernel_image = TRY(read_whole_file(config.kernel, "kernel", kMaxKernelSize));
    auto const needs = TRY(inspect_kernel(kernel_image));  // image errors before any allocation
    if (cmdline.str().size() > needs.cmdline_size)
        return fail(ErrorKind::Usage,
                    fmt::format("the kernel command line is {} bytes; this kernel accepts at most "
                                "{} (cmdline_size in its setup header): shorten --cmdline",
                                cmdline.str().size(), needs.cmdline_size));
    std::vector<uint8_t> initrd_image;
    if (config.initrd) {
        initrd_image = TRY(read_whole_file(*config.initrd, "initrd", kMaxInitrdSize));
        if (initrd_image.empty())
            return fail(ErrorKind::Image, fmt::format("initrd '{}' is empty", *config.initrd));
    }
    auto const layout = TRY(x86::memory_layout(config.memory));
    auto memory = TRY(GuestMemory::create(layout));
    auto const kernel = TRY(load_kernel(memory, needs.format, kernel_image));
    std::optional<x86::LoadedModule> initrd;
    if (config.initrd)
        initrd = TRY(boot::load_initrd(memory, initrd_image, kernel.end, needs.initrd_limit));
    TRY(x86::write_boot_gdt(memory, kernel.mode));
    TRY(x86::write_mp_table(memory, config.vcpus));
    auto const e820 = x86::build_e820(memory.regions());
    uint64_t const boot_info = TRY(write_boot_info(memory, kernel, cmdline.str(), e820, initrd));
    auto const regs = x86::entry_regs(kernel.mode, kernel.entry, boot_info);
    return LoadedGuest{std::move(memory), kernel.mode, regs};
}

Result<std::unique_ptr<Machine>> build_machine(MachineConfig const& config,
                                               std::chrono::steady_clock::time_point start) {
    TRY(validate_config(config));
    LoadedGuest guest = TRY(load_guest(config));
    auto disks = TRY(open_disks(config));  // opened and locked before /dev/kvm
    auto nets = TRY(open_nets(config));    // taps attached, helpers started, before /dev/kvm

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
    x86::EntryMode const mode = guest.mode;
    kvm_regs const regs = guest.regs;
    auto machine = std::make_unique<Machine>(config, std::move(kvm), std::move(vm),
                                             std::move(guest.memory), std::move(exit),
                                             std::move(loop));
    TRY(attach_console_output(*machine));
    TRY(attach_legacy_devices(*machine, start));
    TRY(attach_virtio_devices(*machine, std::move(disks), std::move(nets)));
    TRY(create_vcpus(*machine, mode, regs));
    return machine;
}

}  // namespace vmm
