// SPDX-License-Identifier: Apache-2.0
// User-mode networking: libslirp runs in a helper process, wisp-net-user, so the VMM stays
// small and static and a fault in the TCP/IP emulation cannot reach guest memory. wisp and the
// helper exchange Ethernet frames over a SOCK_SEQPACKET socket pair, one frame per message,
// without a virtio-net header.
#pragma once

#include <sys/types.h>

#include "vmm/base/result.h"
#include "vmm/base/unique_fd.h"
#include "vmm/machine_config.h"

namespace vmm {

struct UserNetwork {
    UniqueFd socket;  // wisp's end: frames to and from the helper
    pid_t pid = -1;   // the helper; it exits when the socket closes
};

/// Starts wisp-net-user for `config` (kind User) and waits until it is ready: every host
/// forward is listening, or the reason one cannot (a port in use, ...) as a Usage error.
Result<UserNetwork> start_user_network(NetConfig const& config);

}  // namespace vmm
