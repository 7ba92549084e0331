/* SPDX-License-Identifier: Apache-2.0 */
/* Prints what it finds in hvm_start_info so the test can compare it with what it asked for. */
#include "guest.h"

static uint32_t fnv1a(const uint8_t* data, uint64_t size) {
    uint32_t hash = 2166136261u;
    for (uint64_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 16777619u;
    return hash;
}

int guest_main(const struct hvm_start_info* info) {
    serial_puts("start_info: ");
    serial_put_hex((uint32_t)(uintptr_t)info);
    serial_puts("\nmagic: ");
    serial_put_hex(info->magic);
    serial_puts("\nversion: ");
    serial_put_dec(info->version);
    serial_puts("\ncmdline: ");
    serial_puts((const char*)(uintptr_t)info->cmdline_paddr);
    serial_puts("\nmemmap_entries: ");
    serial_put_dec(info->memmap_entries);
    serial_puts("\n");
    const struct hvm_memmap_table_entry* map =
        (const struct hvm_memmap_table_entry*)(uintptr_t)info->memmap_paddr;
    for (uint32_t i = 0; i < info->memmap_entries; ++i) {
        serial_puts("memmap: ");
        serial_put_hex(map[i].addr);
        serial_puts(" ");
        serial_put_hex(map[i].size);
        serial_puts(" ");
        serial_put_dec(map[i].type);
        serial_puts("\n");
    }
    serial_puts("modules: ");
    serial_put_dec(info->nr_modules);
    serial_puts("\n");
    const struct hvm_modlist_entry* mods =
        (const struct hvm_modlist_entry*)(uintptr_t)info->modlist_paddr;
    for (uint32_t i = 0; i < info->nr_modules; ++i) {
        serial_puts("module: ");
        serial_put_hex(mods[i].paddr);
        serial_puts(" ");
        serial_put_hex(mods[i].size);
        serial_puts(" fnv1a ");
        serial_put_hex(fnv1a((const uint8_t*)(uintptr_t)mods[i].paddr, mods[i].size));
        serial_puts("\n");
    }
    return info->magic == 0x336ec578u ? 0 : 1;
}
