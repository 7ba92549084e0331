// SPDX-License-Identifier: Apache-2.0
// MachineConfig: the one configuration model, filled by the CLI today and by the config file
// and the API later. A plain aggregate: tests build it with designated initializers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "vmm/base/size.h"

namespace vmm {

/// Stdio, File and None are the serial port's (COM1, ttyS0). Virtio is a virtio-console (hvc0)
/// on stdio, and the serial port's output then goes nowhere.
enum class ConsoleKind { Stdio, File, None, Virtio };

/// Whether the console is the host's stdin and stdout (raw terminal, Ctrl-A escape).
constexpr bool console_on_stdio(ConsoleKind kind) {
    return kind == ConsoleKind::Stdio || kind == ConsoleKind::Virtio;
}

/// How wisp adapts to the host's KVM (vmm/host_profile.h). Auto picks Pvm on a PVM host
/// (reference: ARCHITECTURE.md, "Running on a PVM host"), Native everywhere else.
enum class HostProfile { Auto, Pvm, Native };

struct ConsoleConfig {
    ConsoleKind kind = ConsoleKind::Stdio;
    std::string path;  // for File
};

/// One --disk: a virtio-blk device (devices/virtio/block/), vda, vdb, ... in this order.
/// How a disk's I/O is done (devices/virtio/block/block_engine.h).
enum class DiskEngine : uint8_t {
    Sync,     // preadv/pwritev/fdatasync on the event-loop thread, one request at a time
    IoUring,  // requests kept in flight on an io_uring, completed from its eventfd
};

struct DiskConfig {
    static constexpr size_t kIdBytes = 20;  // VIRTIO_BLK_ID_BYTES
    std::string path;
    bool read_only = false;
    std::string id;  // what the guest reads as the serial (GET_ID), at most 20 bytes
    DiskEngine engine = DiskEngine::Sync;
};

/// One hostfwd= of --net user: connections to host_address:host_port on the host reach
/// guest_port of the guest's DHCP address.
struct HostForward {
    enum class Protocol : uint8_t { Tcp, Udp };
    Protocol protocol = Protocol::Tcp;
    std::string host_address = "127.0.0.1";
    uint16_t host_port = 0;
    uint16_t guest_port = 0;
};

/// How a virtio-net device reaches the outside: a tap device, or user-mode networking
/// (libslirp, in the wisp-net-user helper process; no privileges needed).
enum class NetKind : uint8_t { Tap, User };

/// One --net: a virtio-net device (eth0, eth1, ... in this order).
struct NetConfig {
    NetKind kind = NetKind::User;
    std::string tap;                        // Tap: the interface name
    std::optional<std::array<uint8_t, 6>> mac;  // unset: derived from the VM id and the index
    uint16_t mtu = 0;                        // 0: not advertised (1500)
    std::vector<HostForward> forwards;      // User only
};

struct MachineConfig {
    static constexpr uint32_t kMaxVcpus = 64;
    static constexpr char const* kDefaultCmdline = "console=ttyS0 reboot=k panic=1 pci=off";
    /// The default with --console virtio: the same, with the console on hvc0.
    static constexpr char const* kDefaultVirtioCmdline = "console=hvc0 reboot=k panic=1 pci=off";
    /// The command line used when none is given.
    static constexpr char const* default_cmdline(ConsoleKind kind) {
        return kind == ConsoleKind::Virtio ? kDefaultVirtioCmdline : kDefaultCmdline;
    }

    std::string kernel;
    std::optional<std::string> initrd;
    std::string cmdline = kDefaultCmdline;
    uint32_t vcpus = 1;
    uint64_t memory = 128_MiB;
    ConsoleConfig console;
    bool boot_timer = false;
    std::vector<DiskConfig> disks;  // virtio-blk (vmm/virtio_setup.h)
    bool rng = false;               // virtio-rng (vmm/virtio_setup.h)
    std::vector<NetConfig> nets;    // virtio-net (vmm/virtio_setup.h)
    /// Names the VM: network devices without a mac= get theirs from it (vmm/virtio_setup.h).
    std::string id = "wisp";
    std::string kvm_device = "/dev/kvm";
    HostProfile host_profile = HostProfile::Auto;
};

}  // namespace vmm
