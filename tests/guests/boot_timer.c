/* SPDX-License-Identifier: Apache-2.0 */
/* Writes the boot-timer magic (123 to MMIO 0xd0000000), as a guest init would, then exits. */
#include "guest.h"

int guest_main(const struct hvm_start_info* info) {
    (void)info;
    *(volatile uint8_t*)0xd0000000u = 123;
    serial_puts("boot timer written\n");
    return 0;
}
