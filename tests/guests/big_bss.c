/* SPDX-License-Identifier: Apache-2.0 */
/* Needs 64 MiB of memory for its image: for the "memory too small for the image" error. */
#include "guest.h"

static uint8_t big[64u << 20];

int guest_main(const struct hvm_start_info* info) {
    (void)info;
    big[sizeof big - 1] = 1;
    return big[0];
}
