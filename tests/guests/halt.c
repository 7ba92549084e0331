/* SPDX-License-Identifier: Apache-2.0 */
/* Halts for good: cli; hlt on the boot CPU, as Linux's poweroff without ACPI ends. wisp sees
   it only through its periodic kick (KVM_RUN never returns) and must end with status 0. */
#include "guest.h"

int guest_main(const struct hvm_start_info* info) {
    (void)info;
    serial_puts("halting with interrupts off\n");
    for (;;) __asm__ volatile("cli; hlt");
    return 1;
}
