/* SPDX-License-Identifier: Apache-2.0 */
/* Exits with status 0 at once: the guest for measuring the VMM's own start-up. */
#include "guest.h"

int guest_main(const struct hvm_start_info* info) {
    (void)info;
    return 0;
}
