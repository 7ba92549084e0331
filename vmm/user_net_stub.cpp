// SPDX-License-Identifier: Apache-2.0
// Stands in for vmm/user_net.cpp (the wisp-net-user helper) until that is built in.
#include "vmm/user_net.h"

namespace vmm {

Result<UserNetwork> start_user_network(NetConfig const&) {
    return fail(ErrorKind::Usage, "user-mode networking is not built in");
}

}  // namespace vmm
