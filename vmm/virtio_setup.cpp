// SPDX-License-Identifier: Apache-2.0
// Virtio device placement and wiring.
#include "vmm/virtio_setup.h"

#include <sys/epoll.h>

#include <memory>

#include <spdlog/spdlog.h>

#include "boot/x86_64/layout.h"
#include "devices/virtio/block/block_device.h"
#include "devices/virtio/block/counting_backend.h"
#include "devices/virtio/block/sync_backend.h"
#include "devices/virtio/block/uring_engine.h"
#include "devices/virtio/console/console_device.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/net/net_device.h"
#include "devices/virtio/net/seqpacket_backend.h"
#include "devices/virtio/net/tap_backend.h"
#include "devices/virtio/rng/rng_device.h"
#include "vmm/user_net.h"

namespace vmm {

namespace {
namespace x86 = boot::x86_64;
using devices::virtio::MmioTransport;

using NetBackends = std::vector<std::unique_ptr<devices::virtio::NetBackend>>;

std::shared_ptr<devices::virtio::VirtioDevice> make_device(
    VirtioSlot const& slot, Machine& machine,
    std::vector<std::unique_ptr<devices::virtio::BlockEngine>>& disks, NetBackends& nets,
    std::shared_ptr<devices::virtio::BlockCounters> const& block_counters) {
    MachineConfig const& config = machine.config();
    switch (slot.kind) {
        case VirtioKind::Block: {
            DiskConfig const& disk = config.disks.at(slot.disk);
            devices::virtio::BlockOptions options{disk.path, disk.read_only, disk.id};
            // The metrics count the I/O in front of the engine (counting_backend.h).
            return std::make_shared<devices::virtio::BlockDevice>(
                std::make_unique<devices::virtio::CountingEngine>(std::move(disks.at(slot.disk)),
                                                                  block_counters),
                std::move(options));
        }
        case VirtioKind::Rng: return std::make_shared<devices::virtio::RngDevice>();
        case VirtioKind::Console: {
            int const out = machine.console_fd();
            auto console = std::make_shared<devices::virtio::ConsoleDevice>(
                [out](std::span<uint8_t const> bytes) { write_console_output(out, bytes); });
            machine.set_virtio_console(console);  // stdin goes here (Machine::run)
            return console;
        }
        case VirtioKind::Net: {
            NetConfig const& net = config.nets.at(slot.net);
            devices::virtio::NetOptions options{
                .mac = net.mac.value_or(derive_mac(config.id, slot.net)),
                .mtu = net.mtu,
                .name = net.kind == NetKind::Tap ? net.tap : fmt::format("user{}", slot.net)};
            return std::make_shared<devices::virtio::NetDevice>(std::move(nets.at(slot.net)),
                                                                std::move(options));
        }
    }
    return nullptr;
}

char const* kind_name(VirtioKind kind) {
    switch (kind) {
        case VirtioKind::Block: return "blk";
        case VirtioKind::Rng: return "rng";
        case VirtioKind::Console: return "console";
        case VirtioKind::Net: return "net";
    }
    return "?";
}
}  // namespace

Result<std::vector<VirtioSlot>> virtio_slots(MachineConfig const& config) {
    std::vector<VirtioKind> kinds(config.disks.size(), VirtioKind::Block);
    if (config.rng) kinds.push_back(VirtioKind::Rng);
    if (config.console.kind == ConsoleKind::Virtio) kinds.push_back(VirtioKind::Console);
    size_t const first_net = kinds.size();
    kinds.insert(kinds.end(), config.nets.size(), VirtioKind::Net);
    if (kinds.size() > std::size(x86::kVirtioIrqs))
        return fail(ErrorKind::Usage, fmt::format("{} virtio devices asked for; at most {} fit "
                                                  "(one free ISA IRQ each)",
                                                  kinds.size(), std::size(x86::kVirtioIrqs)));
    std::vector<VirtioSlot> slots;
    for (size_t n = 0; n < kinds.size(); ++n)
        slots.push_back({kinds[n], x86::kVirtioMmioStart + n * x86::kVirtioMmioStride,
                         x86::kVirtioIrqs[n], n,  // disks come first: n is the disk index
                         n >= first_net ? n - first_net : 0});
    return slots;
}

Result<void> append_virtio_cmdline(boot::Cmdline& cmdline, MachineConfig const& config) {
    auto const slots = TRY(virtio_slots(config));
    for (VirtioSlot const& slot : slots)
        TRY(cmdline.append(fmt::format("virtio_mmio.device={:#x}@{:#x}:{}",
                                       MmioTransport::kWindowSize, slot.address, slot.irq)));
    return {};
}

Result<std::vector<std::unique_ptr<devices::virtio::BlockEngine>>> open_disks(
    MachineConfig const& config) {
    namespace virtio = devices::virtio;
    std::vector<std::unique_ptr<virtio::BlockEngine>> disks;
    for (DiskConfig const& disk : config.disks) {
        auto image = TRY(virtio::open_disk_image(disk.path, disk.read_only));
        switch (disk.engine) {
            case DiskEngine::Sync:
                disks.push_back(std::make_unique<virtio::SyncEngine>(
                    std::make_unique<virtio::SyncBackend>(std::move(image))));
                break;
            case DiskEngine::IoUring:
                // Ring depth = queue size: every request the driver can have queued fits.
                disks.push_back(TRY(virtio::UringEngine::create(
                    std::move(image), virtio::BlockDevice::kQueueSize)));
                break;
        }
    }
    return disks;
}

Result<std::vector<std::unique_ptr<devices::virtio::NetBackend>>> open_nets(
    MachineConfig const& config) {
    NetBackends backends;
    for (NetConfig const& net : config.nets) {
        if (net.kind == NetKind::Tap) {
            auto tap = TRY(devices::virtio::TapBackend::open(net.tap));
            backends.push_back(std::make_unique<devices::virtio::TapBackend>(std::move(tap)));
            continue;
        }
        auto user = TRY(start_user_network(net));
        spdlog::debug("wisp-net-user started (pid {})", user.pid);
        auto backend = TRY(devices::virtio::SeqpacketBackend::create(std::move(user.socket)));
        backends.push_back(std::make_unique<devices::virtio::SeqpacketBackend>(std::move(backend)));
    }
    return backends;
}

std::array<uint8_t, 6> derive_mac(std::string_view vm_id, size_t index) {
    // FNV-1a over "id/index": stable across runs and builds, unlike std::hash.
    uint64_t hash = 0xcbf29ce484222325ull;
    auto mix = [&hash](std::string_view text) {
        for (char c : text) {
            hash ^= static_cast<uint8_t>(c);
            hash *= 0x100000001b3ull;
        }
    };
    mix(vm_id);
    mix(fmt::format("/{}", index));
    std::array<uint8_t, 6> mac{};
    for (size_t i = 0; i < mac.size(); ++i) mac[i] = static_cast<uint8_t>(hash >> (8 * i));
    mac[0] = static_cast<uint8_t>((mac[0] & 0xfe) | 0x02);  // unicast, locally administered
    return mac;
}

Result<void> attach_virtio_devices(
    Machine& machine, std::vector<std::unique_ptr<devices::virtio::BlockEngine>> disks,
    NetBackends nets) {
    auto const slots = TRY(virtio_slots(machine.config()));
    if (disks.size() != machine.config().disks.size())
        return fail(ErrorKind::Host, "attach_virtio_devices: the disks were not all opened");
    if (nets.size() != machine.config().nets.size())
        return fail(ErrorKind::Host, "attach_virtio_devices: the networks were not all opened");
    for (VirtioSlot const& slot : slots) {
        auto irq_event = TRY(EventFd::create());
        TRY(machine.vm().register_irqfd(irq_event, slot.irq));
        auto block_counters = slot.kind == VirtioKind::Block
                                  ? std::make_shared<devices::virtio::BlockCounters>()
                                  : nullptr;
        auto transport_device = make_device(slot, machine, disks, nets, block_counters);
        auto transport = std::make_shared<MmioTransport>(
            transport_device, machine.memory(),
            std::make_shared<EventFdIrq>(std::move(irq_event)));
        TRY(machine.mmio_bus().insert(transport, slot.address, MmioTransport::kWindowSize));
        for (uint32_t queue = 0; queue < transport->queue_count(); ++queue) {
            auto notify = std::make_shared<EventFd>(TRY(EventFd::create()));
            TRY(machine.vm().register_ioeventfd(
                *notify, slot.address + MmioTransport::kQueueNotifyOffset, 4, queue, false));
            // The loop owns the eventfd and a reference to the transport from here on.
            TRY(machine.loop().add(notify->fd(), EPOLLIN, [notify, transport, queue](uint32_t) {
                if (notify->consume() != 0) transport->notify(queue);
            }));
        }
        auto const sources = transport_device->host_event_sources();
        for (size_t index = 0; index < sources.size(); ++index)
            TRY(machine.loop().add(sources[index].fd, sources[index].events,
                                   [transport, index](uint32_t events) {
                                       transport->host_event(index, events);
                                   }));
        machine.add_device(transport);
        machine.add_virtio({slot.kind == VirtioKind::Block ? "block" : kind_name(slot.kind),
                            transport,
                            std::dynamic_pointer_cast<devices::virtio::BlockDevice>(transport_device),
                            block_counters, slot.disk});
        spdlog::debug("virtio-{} at {:#x}, IRQ {}", kind_name(slot.kind), slot.address, slot.irq);
    }
    return {};
}

}  // namespace vmm
