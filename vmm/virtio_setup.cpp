// SPDX-License-Identifier: Apache-2.0
// Virtio device placement and wiring.
#include "vmm/virtio_setup.h"

#include <sys/epoll.h>

#include <memory>

#include <spdlog/spdlog.h>

#include "boot/x86_64/layout.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/rng/rng_device.h"

namespace vmm {

namespace {
namespace x86 = boot::x86_64;
using devices::virtio::MmioTransport;

std::shared_ptr<devices::virtio::VirtioDevice> make_device(VirtioKind kind) {
    switch (kind) {
        case VirtioKind::Rng: return std::make_shared<devices::virtio::RngDevice>();
    }
    return nullptr;
}

char const* kind_name(VirtioKind kind) {
    switch (kind) {
        case VirtioKind::Rng: return "rng";
    }
    return "?";
}
}  // namespace

Result<std::vector<VirtioSlot>> virtio_slots(MachineConfig const& config) {
    std::vector<VirtioKind> kinds;
    if (config.rng) kinds.push_back(VirtioKind::Rng);
    if (kinds.size() > std::size(x86::kVirtioIrqs))
        return fail(ErrorKind::Usage, fmt::format("{} virtio devices asked for; at most {} fit "
                                                  "(one free ISA IRQ each)",
                                                  kinds.size(), std::size(x86::kVirtioIrqs)));
    std::vector<VirtioSlot> slots;
    for (size_t n = 0; n < kinds.size(); ++n)
        slots.push_back({kinds[n], x86::kVirtioMmioStart + n * x86::kVirtioMmioStride,
                         x86::kVirtioIrqs[n]});
    return slots;
}

Result<void> append_virtio_cmdline(boot::Cmdline& cmdline, MachineConfig const& config) {
    auto const slots = TRY(virtio_slots(config));
    for (VirtioSlot const& slot : slots)
        TRY(cmdline.append(fmt::format("virtio_mmio.device={:#x}@{:#x}:{}",
                                       MmioTransport::kWindowSize, slot.address, slot.irq)));
    return {};
}

Result<void> attach_virtio_devices(Machine& machine) {
    auto const slots = TRY(virtio_slots(machine.config()));
    for (VirtioSlot const& slot : slots) {
        auto irq_event = TRY(EventFd::create());
        TRY(machine.vm().register_irqfd(irq_event, slot.irq));
        auto transport = std::make_shared<MmioTransport>(
            make_device(slot.kind), machine.memory(),
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
        machine.add_device(transport);
        spdlog::debug("virtio-{} at {:#x}, IRQ {}", kind_name(slot.kind), slot.address, slot.irq);
    }
    return {};
}

}  // namespace vmm
