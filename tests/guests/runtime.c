/* SPDX-License-Identifier: Apache-2.0 */
/* The test guests' runtime. */
#include "guest.h"

void serial_putc(char c) {
    while (!(inb(COM1 + 5) & 0x20)) {
    }
    outb(COM1, (uint8_t)c);
}

void serial_puts(const char* s) {
    while (*s) serial_putc(*s++);
}

void serial_put_hex(uint64_t value) {
    serial_puts("0x");
    int started = 0;
    for (int shift = 60; shift >= 0; shift -= 4) {
        unsigned digit = (unsigned)(value >> shift) & 0xf;
        if (!digit && !started && shift) continue;
        started = 1;
        serial_putc("0123456789abcdef"[digit]);
    }
}

void serial_put_dec(uint32_t value) {
    char buffer[12];
    int i = 0;
    do {
        buffer[i++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (i) serial_putc(buffer[--i]);
}

int serial_getc(void) {
    while (!(inb(COM1 + 5) & 0x01)) {
    }
    return inb(COM1);
}

void guest_exit(int status) {
    outb(EXIT_PORT, (uint8_t)status);
    for (;;) __asm__ volatile("cli; hlt");
}

uint32_t cmdline_number(const struct hvm_start_info* info, const char* name, uint32_t fallback) {
    const char* p = (const char*)(uintptr_t)info->cmdline_paddr;
    if (!p) return fallback;
    while (*p) {
        const char* n = name;
        const char* q = p;
        while (*n && *q == *n) ++q, ++n;
        if (!*n && *q == '=' && (p == (const char*)(uintptr_t)info->cmdline_paddr || p[-1] == ' ')) {
            uint32_t value = 0;
            for (++q; *q >= '0' && *q <= '9'; ++q) value = value * 10 + (uint32_t)(*q - '0');
            return value;
        }
        ++p;
    }
    return fallback;
}
