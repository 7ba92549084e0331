/* SPDX-License-Identifier: Apache-2.0 */
/* Spins reading the i8042 status port, one port-I/O exit per read (how a host test sees the
 * guest make progress: the vCPU exit counters), until the keyboard sends the Delete key's press
 * (set 1, E0 53, as SendCtrlAltDel presses it through the controller's translation); then exits
 * with status 7. */
#include "guest.h"

#define I8042_DATA 0x60
#define I8042_STATUS 0x64

int guest_main(const struct hvm_start_info* info) {
    (void)info;
    serial_puts("spinning\n");
    int extended = 0;
    for (;;) {
        if (!(inb(I8042_STATUS) & 0x01)) continue;
        uint8_t const byte = inb(I8042_DATA);
        if (byte == 0xe0) {
            extended = 1;
            continue;
        }
        if (extended && byte == 0x53) guest_exit(7);
        extended = 0;
    }
}
