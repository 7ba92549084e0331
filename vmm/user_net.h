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
/// The helper is found next to the running binary (/proc/self/exe), or at $WISP_NET_USER;
/// a missing one is a Host error naming where it looked. The wire protocol and the helper's
/// arguments: netuser/protocol.h (frames of 14 to 65535 bytes; others are dropped).
/// Call it from a thread that lives as long as the machine (the main thread): the helper dies
/// with that thread (PR_SET_PDEATHSIG). After closing `socket`, reap `pid` (waitpid).
Result<UserNetwork> start_user_network(NetConfig const& config);

}  // namespace vmm
