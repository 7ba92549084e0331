/* SPDX-License-Identifier: Apache-2.0 */
/* Echoes UART input until it reads EOT (0x04), then exits with status 42. */
#include "guest.h"

int guest_main(const struct hvm_start_info* info) {
    (void)info;
    serial_puts("echo ready\n");
    for (;;) {
        int c = serial_getc();
        if (c == 0x04) return 42;
        serial_putc((char)c);
    }
}
