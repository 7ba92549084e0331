/* SPDX-License-Identifier: Apache-2.0 */
/* Loads an empty IDT and executes ud2: #UD cannot be delivered, nor #DF: a triple fault. */
#include "guest.h"

int guest_main(const struct hvm_start_info* info) {
    (void)info;
    serial_puts("about to triple-fault\n");
    static const struct __attribute__((packed)) {
        uint16_t limit;
        uint32_t base;
    } empty_idt = {0, 0};
    __asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
    return 1;
}
