/* SPDX-License-Identifier: Apache-2.0 */
/* popcnt with its operand in MMIO (an address no device claims): KVM must emulate the access,
   and its emulator has no popcnt, so wisp sees an emulation failure (KVM_EXIT_INTERNAL_ERROR,
   suberror 1) on any host. */
#include "guest.h"

int guest_main(const struct hvm_start_info* info) {
    (void)info;
    serial_puts("popcnt on MMIO\n");
    /* popcnt eax, [0xfe000000] */
    __asm__ volatile(".byte 0xf3, 0x0f, 0xb8, 0x05, 0x00, 0x00, 0x00, 0xfe" : : : "eax", "memory");
    return 1;
}
