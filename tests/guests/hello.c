/* SPDX-License-Identifier: Apache-2.0 */
/* Greets through the UART and exits with status=N from the command line (default 0). */
#include "guest.h"

int guest_main(const struct hvm_start_info* info) {
    serial_puts("Hello from a wisp guest!\n");
    return (int)cmdline_number(info, "status", 0);
}
